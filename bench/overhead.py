"""The search's own cost per trial against a plain Optuna loop doing the same work, in one run.

Both sides sample the real search space with the same sampler (`nas.search.strategy`, seeded
alike) and score each architecture with the null trainer (`workers.null_trainer`: a score drawn
from the architecture, every epoch reported and prunable), so neither trains anything:

- **the search**: `nas search` as it runs (SQLite, dedupe, one transaction per outcome, the
  top-K weights policy) on real Ray workers that hold the dataset as a search's workers do and
  run the null trainer instead of training; completed trials send stand-in weights of
  `--weights-kb` (the issue's measured mean of a skipdag network's weights, 364 KB) so that
  `--save-weights` stores and deletes real bytes;
- **plain Optuna**: `study.optimize` on an Optuna SQLite storage, the same sampler and pruner,
  the same objective (sample, report each epoch, ask whether to prune, return the score).

Prints one JSON line:

- `per_trial_s`, `plain_optuna_per_trial_s`: mean seconds between consecutive recorded trials,
  first to last (steady state; start-up is `first_trial_s`), and `ratio` = search / plain;
  `plain_optuna_inmemory_per_trial_s` and `ratio_to_inmemory`: the same loop on Optuna's
  in-memory storage, which persists nothing (the sampler's own cost, a lower bound);
- `first_trial_s`: from this process's launch to the first trial recorded (imports, dataset,
  database, Ray start, workers up and holding the data);
- `db_bytes_per_trial`: the search database's growth per trial over a database holding only the
  schema (`db_schema_bytes`), checkpointed; `plain_optuna_db_bytes_per_trial` likewise;
  `db_bytes_by_table`: where the search database's bytes are (tables and indexes of 64 KiB or
  more, and the free pages);
- `worker_peak_rss_mb`: the largest peak RSS (VmHWM) of the Ray workers; `import_baseline_mb`
  the peak RSS of a process that only runs `import torch, optuna, ray`; `worker_data_mb` the
  dataset tensors a worker holds; target `worker_peak_rss_mb <= 2 * import_baseline_mb + worker_data_mb`;
- `trials`, and the settings.

    python bench/overhead.py                       # 100 trials, Fashion-MNIST subset 5000, 2 workers
    python bench/overhead.py --trials 8 --dataset synthetic --subset 500     # CI-sized (the smoke test)
"""

from __future__ import annotations

import os
import time

_T0 = time.perf_counter()  # as early as possible; `_launch_offset` adds the interpreter's own start-up

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: What the report's keys are (the smoke test checks them).
KEYS = (
    "per_trial_s",
    "plain_optuna_per_trial_s",
    "ratio",
    "first_trial_s",
    "db_bytes_per_trial",
    "worker_peak_rss_mb",
    "trials",
)


def _launch_offset() -> float:
    """Seconds from this process's start (Linux: /proc) to `_T0`; 0.0 where unknown."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        start = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]) / ticks
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start - (time.perf_counter() - _T0))
    except (OSError, ValueError, IndexError):
        return 0.0


def _peak_rss_mb(pid: int | str = "self") -> float | None:
    """VmHWM (peak resident set) of a process, in MB; None where /proc is not there."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def import_baseline_mb() -> float | None:
    """Peak RSS of a fresh process that imports torch, optuna and ray and does nothing else."""
    code = "import torch, optuna, ray; print(open('/proc/self/status').read())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    for line in out.stdout.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def db_bytes(path: Path) -> int:
    """The SQLite file's size once its WAL is checkpointed into it (and the WAL's, should any be left)."""
    with contextlib.closing(sqlite3.connect(path)) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def db_tables(path: Path) -> dict[str, int]:
    """Bytes per table and index (SQLite's dbstat), largest first, and the free pages' bytes."""
    with contextlib.closing(sqlite3.connect(path)) as c:
        try:
            rows = c.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
        except sqlite3.Error:  # a SQLite built without dbstat
            rows = []
        page = c.execute("PRAGMA page_size").fetchone()[0]
        free = c.execute("PRAGMA freelist_count").fetchone()[0]
    return {**{str(n): int(b) for n, b in rows}, "(free pages)": page * free}


def schema_bytes(tmp: Path) -> tuple[int, int]:
    """Databases holding the schema only: (the search's: the `nas_` tables, Optuna's and one study;
    plain Optuna's: its tables and one study)."""
    import optuna

    import db

    store = db.connect(f"sqlite:///{tmp / 'schema.db'}")
    optuna.create_study(storage=db.optuna_storage(store), study_name="schema")
    ours = db_bytes(tmp / "schema.db")
    store.close()
    optuna.create_study(storage=f"sqlite:///{tmp / 'plain-schema.db'}", study_name="schema")
    return ours, db_bytes(tmp / "plain-schema.db")


def per_trial(stamps: list[float]) -> float:
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else float("nan")


def run_the_search(args, tmp: Path) -> dict:
    """The search with the null trainer on Ray workers; times, database size, worker memory."""
    import ray

    from nas.search.config import SearchConfig
    from nas.search.driver import Search
    from workers import ray_executor
    from workers.null_trainer import NULL_RUNNER

    workers: list[dict] = []

    class NullRayExecutor(ray_executor.RayExecutor):
        """Ray workers that run the null trainer; their memory is read before they stop."""

        def __init__(self, data, **kw) -> None:
            super().__init__(data, runner=(NULL_RUNNER, {"weights_bytes": args.weights_kb * 1024}), **kw)

        def close(self) -> None:
            actors = [a for a, _ in self._running.values()] + list(self._idle)
            for actor in actors:
                with contextlib.suppress(Exception):
                    pid = ray.get(actor.pid.remote(), timeout=30)
                    data = ray.get(actor.data_bytes.remote(), timeout=30)
                    workers.append({"pid": pid, "peak_rss_mb": _peak_rss_mb(pid), "data_bytes": data})
            super().close()

    class Timed(Search):
        stamps: list[float] = []

        def _record(self, *a, **kw) -> None:
            super()._record(*a, **kw)
            self.stamps.append(time.perf_counter())

    path = tmp / "search.db"
    config = SearchConfig(
        name="overhead",
        db=f"sqlite:///{path}",
        dataset=args.dataset,
        data_dir=args.data_dir,
        subset=args.subset,
        trials=args.trials,
        sampler=args.sampler,
        seed=args.seed,
        pruner=args.pruner,
        train={"epochs": args.epochs, "batch_size": 64},
        executor="ray",
        concurrency=args.concurrency,
        save_weights=args.save_weights,
    )
    real = ray_executor.RayExecutor
    ray_executor.RayExecutor = NullRayExecutor  # what `Search._make_executor` builds
    try:
        search = Timed(config)
        summary = search.run()
    finally:
        ray_executor.RayExecutor = real
        ray.shutdown()
    stamps = search.stamps
    held = len(search.store.trials_with_artifact("overhead", "weights"))
    search.store.close()  # no connection left open: the checkpoint below empties the WAL into the file
    size = db_bytes(path)
    tables = db_tables(path)
    return {
        "stamps": stamps,
        "counts": summary.counts,
        "db_bytes": size,
        "db_tables": tables,
        "workers": workers,
        "held_weights": held,
    }


def run_plain_optuna(args, tmp: Path, storage: str = "sqlite") -> dict:
    """The plain Optuna loop: same space, sampler, pruner and null scores; its own SQLite storage
    (`storage="memory"`: Optuna's in-memory storage, persisting nothing: the sampler's own cost)."""
    import optuna

    import search_spaces
    from nas.search.strategy import make_pruner, make_sampler
    from workers.null_trainer import null_score

    space = search_spaces.get("skipdag")
    path = tmp / "plain.db"
    study = optuna.create_study(
        storage=f"sqlite:///{path}" if storage == "sqlite" else None,
        direction="maximize",
        sampler=make_sampler(args.sampler, args.seed),
        pruner=make_pruner(args.pruner),
    )
    stamps: list[float] = []

    def objective(trial: optuna.Trial) -> float:
        score = null_score(space.sample(trial).canonical().to_json())
        for epoch in range(1, args.epochs + 1):
            trial.report(score * epoch / args.epochs, epoch)
            if epoch < args.epochs and trial.should_prune():
                raise optuna.TrialPruned()
        return score

    study.optimize(objective, n_trials=args.trials, callbacks=[lambda s, t: stamps.append(time.perf_counter())])
    return {"stamps": stamps, "db_bytes": db_bytes(path) if storage == "sqlite" else 0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--data-dir")
    p.add_argument("--subset", type=int, default=5000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=2, help="Ray workers")
    p.add_argument("--sampler", default="tpe")
    p.add_argument("--pruner", default="asha")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-weights", default="top:5")
    p.add_argument("--weights-kb", type=int, default=364, help="stand-in weights per completed trial (0: none)")
    p.add_argument("--keep", metavar="DIR", help="keep the databases in DIR (default: a temporary directory)")
    args = p.parse_args(argv)
    if args.trials < 2:
        p.error("--trials must be at least 2 (per-trial times are between trials)")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with contextlib.ExitStack() as stack:
        tmp = Path(args.keep) if args.keep else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        tmp.mkdir(parents=True, exist_ok=True)
        search = run_the_search(args, tmp)
        plain = run_plain_optuna(args, tmp)
        memory = run_plain_optuna(args, tmp, "memory")
        schema, plain_schema = schema_bytes(tmp)
    launch = _T0 - _launch_offset()
    n = len(search["stamps"])
    workers = search["workers"]
    peak = max((w["peak_rss_mb"] for w in workers if w["peak_rss_mb"] is not None), default=None)
    data_mb = max((w["data_bytes"] for w in workers), default=0) / 2**20
    baseline = import_baseline_mb()
    ours, theirs, bare = per_trial(search["stamps"]), per_trial(plain["stamps"]), per_trial(memory["stamps"])
    report = {
        "per_trial_s": round(ours, 4),
        "plain_optuna_per_trial_s": round(theirs, 4),
        "ratio": round(ours / theirs, 3),
        "plain_optuna_inmemory_per_trial_s": round(bare, 4),
        "ratio_to_inmemory": round(ours / bare, 3),
        "first_trial_s": round(search["stamps"][0] - launch, 2),
        "db_bytes_per_trial": round((search["db_bytes"] - schema) / n),
        "plain_optuna_db_bytes_per_trial": round((plain["db_bytes"] - plain_schema) / len(plain["stamps"])),
        "db_schema_bytes": schema,
        "db_bytes_by_table": {k: v for k, v in search["db_tables"].items() if v >= 65536},
        "weights_held": search["held_weights"],
        "worker_peak_rss_mb": None if peak is None else round(peak, 1),
        "import_baseline_mb": None if baseline is None else round(baseline, 1),
        "worker_data_mb": round(data_mb, 2),
        "worker_data_bytes": max((w["data_bytes"] for w in workers), default=0),
        "workers": len(workers),
        "trials": n,
        "counts": search["counts"],
        "settings": {
            k: getattr(args, k)
            for k in ("dataset", "subset", "epochs", "concurrency", "sampler", "pruner", "save_weights", "weights_kb")
        },
    }
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
