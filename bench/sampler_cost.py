"""What TPE costs per trial on the real skipdag space, setting against setting, in one run.

No training: each trial is `study.ask()`, `space.sample(trial)` (where TPE's suggestions are
made) and `study.tell(trial, score)` with a score drawn from the architecture's hash (the null
trainer of `workers.executor.NullExecutor`). `--in-flight` trials are kept open at once, as a
search with that many workers does (constant liar then has running trials to lie about).
Each setting runs its own study, one after another, `--rounds` times in turn (ABAB...), so a
slow spell of the shared machine hits every setting alike.

    python bench/sampler_cost.py --trials 100 --rounds 2
    python bench/sampler_cost.py --trials 200 --storage sqlite --settings default,lean

Prints one JSON line per setting: the median over rounds of the mean sampling time per trial
(`sample_ms`: ask + sample), over the last 20 trials (`last20_ms`), and of tell (`tell_ms`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import optuna  # noqa: E402

import search_spaces  # noqa: E402
from nas.search._tpe import OneAskerTPESampler  # noqa: E402
from nas.search.strategy import TPE_DEFAULTS  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)

#: name -> (sampler class, keywords besides seed). 'default' is what `--sampler tpe` runs now.
STOCK = optuna.samplers.TPESampler
LIAR = dict(multivariate=True, group=True, constant_liar=True)
SETTINGS: dict[str, tuple[type, dict]] = {
    "default": (OneAskerTPESampler, dict(TPE_DEFAULTS)),
    "stock mv+group+liar (the old default)": (STOCK, LIAR),
    "stock mv+group, no liar": (STOCK, dict(multivariate=True, group=True, constant_liar=False)),
    "stock mv, no group, liar": (STOCK, dict(multivariate=True, group=False, constant_liar=True)),
    "stock independent, liar": (STOCK, dict(multivariate=False, constant_liar=True)),
    "one-asker mv, no group": (OneAskerTPESampler, dict(multivariate=True, group=False, constant_liar=True)),
    "one-asker independent": (OneAskerTPESampler, dict(multivariate=False, constant_liar=True)),
    "one-asker startup 20": (OneAskerTPESampler, {**LIAR, "n_startup_trials": 20}),
    "one-asker startup 5": (OneAskerTPESampler, {**LIAR, "n_startup_trials": 5}),
    "one-asker ei 8": (OneAskerTPESampler, {**LIAR, "n_ei_candidates": 8}),
    "one-asker ei 64": (OneAskerTPESampler, {**LIAR, "n_ei_candidates": 64}),
}


def score(arch) -> float:
    digest = hashlib.sha256(arch.to_json().encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def run_one(setting: tuple[type, dict], trials: int, in_flight: int, storage: str, seed: int) -> dict:
    import contextlib

    import db

    space = search_spaces.get("skipdag")
    cls, kwargs = setting
    sampler = cls(seed=seed, **kwargs)
    with tempfile.TemporaryDirectory() as tmp:
        url = None if storage == "memory" else f"sqlite:///{tmp}/s.db"
        batch = contextlib.nullcontext
        if storage.startswith("search"):  # the search's own: its engine (WAL), a trial's suggestions in one transaction
            store = db.connect(url)
            url = db.optuna_storage(store)  # type: ignore[assignment]
            if storage == "search":
                batch = store.transaction  # type: ignore[assignment]
        study = optuna.create_study(storage=url, direction="maximize", sampler=sampler)
        sample_s: list[float] = []
        tell_s: list[float] = []
        open_: list = []
        for _ in range(trials):
            t0 = time.perf_counter()
            trial = study.ask()
            with batch():
                arch = space.sample(trial).canonical()
            sample_s.append(time.perf_counter() - t0)
            open_.append((trial, arch))
            if len(open_) >= in_flight:
                done, a = open_.pop(0)
                t0 = time.perf_counter()
                study.tell(done, score(a))
                tell_s.append(time.perf_counter() - t0)
        for done, a in open_:
            study.tell(done, score(a))
        best = study.best_value
    return {
        "sample_ms": 1000 * statistics.fmean(sample_s),
        "last20_ms": 1000 * statistics.fmean(sample_s[-20:]),
        "tell_ms": 1000 * statistics.fmean(tell_s) if tell_s else 0.0,
        "best": best,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--rounds", type=int, default=2, help="each setting runs this many times, in turn")
    p.add_argument("--in-flight", type=int, default=2, help="trials open at once (the search's workers)")
    p.add_argument(
        "--storage",
        choices=("memory", "sqlite", "search", "search-unbatched"),
        default="search",
        help="memory: Optuna's in-memory storage; sqlite: a plain Optuna SQLite URL; search: the search's "
        "own (db.optuna_storage on its engine, each trial's suggestions in one transaction; the default); "
        "search-unbatched: the same without that transaction (one commit per suggestion)",
    )
    p.add_argument("--settings", help="comma-separated names or prefixes of SETTINGS (default: all)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    names = list(SETTINGS)
    if args.settings:
        wanted = [w.strip() for w in args.settings.split(",")]
        names = [n for n in names if any(n.startswith(w) for w in wanted)]
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(args.rounds):
        for n in names:
            runs[n].append(run_one(SETTINGS[n], args.trials, args.in_flight, args.storage, args.seed + r))
    for n in names:
        rs = runs[n]
        out = {
            "setting": n,
            "sampler": SETTINGS[n][0].__name__,
            "kwargs": SETTINGS[n][1],
            "trials": args.trials,
            "in_flight": args.in_flight,
            "storage": args.storage,
            **{k: round(statistics.median(x[k] for x in rs), 2) for k in ("sample_ms", "last20_ms", "tell_ms")},
            "best_null_score": round(statistics.median(x["best"] for x in rs), 4),
        }
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
