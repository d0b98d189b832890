"""Search efficiency: samplers, pruners and pre-screening at equal budget over several seeds.

Each strategy runs the same reduced protocol (a Fashion-MNIST subset, few epochs per trial, the
local executor, one trial at a time) for the same number of trials, once per seed, into its own
SQLite database. Reported per strategy: the best validation accuracy found (mean and spread over
seeds), the wall time, and the best-so-far curve against trials and against wall time, as a
table on stderr, one JSON line on stdout (and --out), and a plot (--plot).

A strategy is SAMPLER[+PRUNER][+prescreenK], e.g. `random`, `tpe`, `evolution`,
`tpe+hyperband`, `tpe+prescreen4`.

    python bench/efficiency.py --strategies random,tpe,evolution,tpe+hyperband --seeds 3 \\
        --trials 20 --subset 2000 --epochs 1 --plot docs/img/efficiency.png
    python bench/efficiency.py --strategies random,evolution --seeds 1 --trials 3 \\
        --subset 200 --dataset synthetic          # CI smoke

Seeds run in the outer loop and the strategies in the inner one, so a change in the machine's
load during the run falls on every strategy alike. Besides the best at equal trials, each seed's
best-so-far is read at the wall time of that seed's fastest strategy ("best at equal wall time":
how `--prescreen`, which spends time scoring, or a pruner, which saves it, compare at equal
time). `--out` is rewritten after every run, so a run stopped early keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_strategy(text: str) -> dict:
    """'tpe+hyperband+prescreen4' -> {'sampler': 'tpe', 'pruner': 'hyperband', 'prescreen': 4}."""
    parts = text.split("+")
    out: dict = {"sampler": parts[0], "pruner": "none", "prescreen": None}
    for part in parts[1:]:
        if part.startswith("prescreen"):
            out["prescreen"] = int(part.removeprefix("prescreen") or 4)
        else:
            out["pruner"] = part
    return out


def run_one(strategy: str, seed: int, args: argparse.Namespace, folder: str) -> dict:
    import db
    from nas.search.config import SearchConfig
    from nas.search.driver import run_search

    opts = parse_strategy(strategy)
    url = f"sqlite:///{folder}/{strategy.replace('+', '_')}-{seed}.db"
    extra: dict = {"prescreen": opts["prescreen"]} if opts["prescreen"] else {}
    if args.threads:
        extra["cpus_per_trial"] = args.threads  # the local executor trains with this many torch threads
    config = SearchConfig(
        name="bench",
        db=url,
        dataset=args.dataset,
        subset=args.subset,
        val_fraction=args.val_fraction,
        trials=args.trials,
        sampler=opts["sampler"],
        pruner=opts["pruner"],
        seed=seed,
        executor="local",
        train={"epochs": args.epochs, "batch_size": args.batch_size},
        **extra,
    )
    t0 = time.perf_counter()
    run_search(config)
    wall = time.perf_counter() - t0
    trials = sorted(db.connect(url).trials("bench"), key=lambda t: t.optuna_number)
    start = min(t.started_at for t in trials)
    best, curve = 0.0, []
    for t in trials:
        if t.val_accuracy is not None and t.state in ("complete", "duplicate"):
            best = max(best, t.val_accuracy)
        end = (t.finished_at or t.started_at) - start
        curve.append({"trial": t.optuna_number + 1, "seconds": round(end.total_seconds(), 2), "best": best})
    return {"strategy": strategy, "seed": seed, "best": best, "wall_seconds": round(wall, 1), "curve": curve}


def plot(runs: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=150)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    strategies = list(dict.fromkeys(r["strategy"] for r in runs))
    for k, s in enumerate(strategies):
        for j, r in enumerate(x for x in runs if x["strategy"] == s):
            label = s if j == 0 else None
            xs = [c["trial"] for c in r["curve"]]
            axes[0].step(xs, [c["best"] for c in r["curve"]], where="post", color=colours[k], alpha=0.8, label=label)
            ts = [c["seconds"] for c in r["curve"]]
            axes[1].step(ts, [c["best"] for c in r["curve"]], where="post", color=colours[k], alpha=0.8, label=label)
    axes[0].set_xlabel("Optuna trials (with --prescreen the screened candidates count too)")
    axes[1].set_xlabel("wall time (s)")
    for ax in axes:
        ax.set_ylabel("best validation accuracy so far")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--strategies", default="random,tpe,evolution,tpe+hyperband")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--subset", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--out", help="also write all runs as JSON here")
    p.add_argument("--plot", help="write the best-so-far plot here (PNG/SVG/PDF)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="validation hold-out of the subset")
    p.add_argument("--first-seed", type=int, default=0, help="seeds run from here (split a run over processes)")
    p.add_argument(
        "--merge", nargs="+", metavar="JSON", help="only combine the --out files of earlier runs (then --out, --plot)"
    )
    p.add_argument("--threads", type=int, help="torch threads for training (default: torch's own)")
    args = p.parse_args()
    runs: list[dict] = []
    strategies = args.strategies.split(",")
    if args.merge:
        parts = [json.load(open(path)) for path in args.merge]
        runs = [r for part in parts for r in part["runs"]]
        for key in ("trials", "dataset", "subset", "epochs", "batch_size", "val_fraction"):
            setattr(args, key, parts[0]["summary"].get(key))
        args.seeds = len({r["seed"] for r in runs})
        line = report(runs, args)
        if args.out:
            with open(args.out, "w") as f:
                json.dump({"summary": line, "runs": runs}, f, indent=1)
    with tempfile.TemporaryDirectory(prefix="nas-efficiency-") as folder:
        for seed in [] if args.merge else range(args.first_seed, args.first_seed + args.seeds):
            for strategy in strategies:
                r = run_one(strategy, seed, args, folder)
                print(f"{strategy:<22} seed {seed}: best {r['best']:.4f} in {r['wall_seconds']} s", file=sys.stderr)
                runs.append(r)
                line = report(runs, args)
                if args.out:
                    with open(args.out, "w") as f:
                        json.dump({"summary": line, "runs": runs}, f, indent=1)
    print(f"{'strategy':<22} {'best (mean +/- std)':>20} {'at equal wall time':>19} {'wall s':>8}", file=sys.stderr)
    for s, v in line["summary"].items():
        print(
            f"{s:<22} {v['best_mean']:>12.4f} +/- {v['best_std']:.4f} {v['best_at_equal_wall_mean']:>19.4f}"
            f" {v['wall_seconds_mean']:>8}",
            file=sys.stderr,
        )
    print(json.dumps(line))
    if args.plot:
        plot(runs, args.plot)


def best_at(run: dict, seconds: float) -> float:
    """The run's best-so-far among the trials finished `seconds` after its first started."""
    return max([c["best"] for c in run["curve"] if c["seconds"] <= seconds], default=0.0)


def prescreen_pairs(runs: list[dict]) -> dict:
    """Each `S+prescreenK` strategy against `S` at equal wall time: per seed, both read at the
    wall time of the faster of the two (the issue's "best accuracy at equal wall time with and
    without it")."""
    out = {}
    by = {(r["strategy"], r["seed"]): r for r in runs}
    for name in dict.fromkeys(r["strategy"] for r in runs):
        if "+prescreen" not in name:
            continue
        base = "+".join(p for p in name.split("+") if not p.startswith("prescreen"))
        seeds = [seed for (s, seed) in by if s == name and (base, seed) in by]
        if not seeds:
            continue
        pairs = []
        for seed in seeds:
            a, b = by[(name, seed)], by[(base, seed)]
            t = min(a["curve"][-1]["seconds"], b["curve"][-1]["seconds"])
            pairs.append((t, best_at(a, t), best_at(b, t)))
        out[name] = {
            "against": base,
            "seeds": len(pairs),
            "seconds_mean": round(statistics.mean(p[0] for p in pairs), 1),
            "best_mean": round(statistics.mean(p[1] for p in pairs), 4),
            "against_best_mean": round(statistics.mean(p[2] for p in pairs), 4),
            "per_seed": [{"seconds": p[0], "best": p[1], "against_best": p[2]} for p in pairs],
        }
    return out


def report(runs: list[dict], args: argparse.Namespace) -> dict:
    """The summary over the runs so far: per strategy, the best at equal trials (mean, spread over
    seeds) and at equal wall time (each seed read at its fastest strategy's wall time)."""
    horizon = {}
    for r in runs:
        last = r["curve"][-1]["seconds"] if r["curve"] else 0.0
        horizon[r["seed"]] = min(horizon.get(r["seed"], last), last)
    summary = {}
    for s in dict.fromkeys(r["strategy"] for r in runs):
        mine = [r for r in runs if r["strategy"] == s]
        bests = [r["best"] for r in mine]
        at_wall = [best_at(r, horizon[r["seed"]]) for r in mine]
        summary[s] = {
            "seeds": len(mine),
            "best_mean": round(statistics.mean(bests), 4),
            "best_std": round(statistics.stdev(bests), 4) if len(bests) > 1 else 0.0,
            "best_at_equal_wall_mean": round(statistics.mean(at_wall), 4),
            "wall_seconds_mean": round(statistics.mean(r["wall_seconds"] for r in mine), 1),
            "trials_per_minute": round(60 * args.trials / statistics.mean(r["wall_seconds"] for r in mine), 2),
        }
    return {
        "prescreen_at_equal_wall": prescreen_pairs(runs),
        "trials": args.trials,
        "seeds": args.seeds,
        "dataset": args.dataset,
        "subset": args.subset,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "val_fraction": getattr(args, "val_fraction", None),
        "date": time.strftime("%Y-%m-%d"),
        "equal_wall_seconds": {str(k): v for k, v in horizon.items()},
        "summary": summary,
    }


if __name__ == "__main__":
    main()
