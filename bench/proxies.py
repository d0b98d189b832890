"""Zero-cost proxies against trained validation accuracy, over random architectures of a space.

For N architectures drawn at random from the space (seeded), computes each proxy at
initialisation on one batch of the training split (`workers.proxies`) and trains the network for
the reduced protocol (a Fashion-MNIST subset, few epochs), then reports the Spearman rank
correlation of each proxy with the trained validation accuracy, and each proxy's cost against
the training's. Prints one JSON line (and writes it with --out).

    python bench/proxies.py --archs 100 --subset 5000 --epochs 1          # the docs' figures
    python bench/proxies.py --archs 4 --subset 256 --epochs 1 --dataset synthetic   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (ties get their average rank); nan if either is constant."""

    def ranks(v: list[float]) -> list[float]:
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2
            i = j + 1
        return r

    ra, rb = ranks(a), ranks(b)
    n = len(a)
    ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    va = sum((x - ma) ** 2 for x in ra)
    vb = sum((y - mb) ** 2 for y in rb)
    return cov / (va * vb) ** 0.5 if va and vb else float("nan")


def main() -> None:
    import optuna
    import torch

    import search_spaces
    from nas.ir import build
    from workers.datasets import load_dataset
    from workers.proxies import PROXIES
    from workers.trainer import TrainConfig, train

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="skipdag")
    p.add_argument("--archs", type=int, default=100)
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--subset", type=int, default=5000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--proxy-batch", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also write the JSON here")
    p.add_argument("--val-fraction", type=float, default=0.1, help="validation hold-out of the subset")
    p.add_argument("--threads", type=int, help="torch threads (default: one per core)")
    p.add_argument(
        "--skip", type=int, default=0, help="pass over the first N architectures drawn (split a run over processes)"
    )
    p.add_argument("--merge", nargs="+", metavar="JSON", help="only combine the --out files of earlier runs")
    p.add_argument("--max-seconds", type=float, help="stop drawing architectures after this long; report those done")
    args = p.parse_args()
    if args.merge:
        return merge(args)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(args.threads or max(1, os.cpu_count() or 1))

    data = load_dataset(args.dataset, subset=args.subset, val_fraction=args.val_fraction, seed=args.seed)
    space = search_spaces.get(args.space)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=args.seed))
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    pixels = data.train.x.float() / 255  # uint8 as loaded; normalised as training does
    mean, std = pixels.mean(dim=(0, 2, 3), keepdim=True), pixels.std(dim=(0, 2, 3), keepdim=True)
    batch = (pixels[: args.proxy_batch] - mean) / std

    rows = []
    seen = set()
    began = time.monotonic()
    while len(rows) < args.archs:
        if args.max_seconds is not None and time.monotonic() - began > args.max_seconds:
            print(
                f"stopped after {args.max_seconds:.0f} s (--max-seconds) with {len(rows)} architectures",
                file=sys.stderr,
            )
            break
        arch = space.sample(study.ask()).canonical()
        h = arch.hash()
        if h in seen:
            continue
        seen.add(h)
        if len(seen) <= args.skip:
            continue
        torch.manual_seed(args.seed)
        model = build(arch, data.input_shape, data.num_classes)
        scores, costs = {}, {}
        for name, fn in PROXIES.items():
            t = time.perf_counter()
            scores[name] = fn(model, batch)
            costs[name] = time.perf_counter() - t
        result = train(model, data, config)
        rows.append(
            {
                "hash": h[:12],
                "val_accuracy": result.val_accuracy,
                "train_seconds": result.train_seconds,
                "proxies": scores,
                "proxy_seconds": costs,
            }
        )
        print(
            f"{len(rows)}/{args.archs} {h[:12]} val {result.val_accuracy:.4f} "
            + " ".join(f"{k} {v:.3g}" for k, v in scores.items()),
            file=sys.stderr,
        )

    emit(summarise(rows, args), rows, args.out)


def merge(args: argparse.Namespace) -> None:
    """Combine the --out files of runs split with --skip (same seed and protocol; each
    architecture once, by hash) and report over all of them."""
    parts = []
    for path in args.merge:
        with open(path) as f:
            parts.append(json.load(f))
    rows, seen = [], set()
    for part in parts:
        for r in part["rows"]:
            if r["hash"] not in seen:
                seen.add(r["hash"])
                rows.append(r)
    first = parts[0]["summary"]
    for key in ("space", "dataset", "subset", "val_fraction", "epochs", "batch_size"):
        setattr(args, key, first.get(key))
    args.archs = len(rows)
    out = summarise(rows, args, threads=first.get("torch_threads"))
    out["merged_from"] = len(parts)
    emit(out, rows, args.out)


def emit(summary: dict, rows: list[dict], path: str | None) -> None:
    """The summary as one JSON line on stdout; with --out, the summary and every row to `path`."""
    print(json.dumps(summary))
    if path:
        with open(path, "w") as f:
            json.dump({"summary": summary, "rows": rows}, f, indent=1)


def summarise(rows: list[dict], args: argparse.Namespace, threads: int | None = None) -> dict:
    """Spearman of each proxy with the trained validation accuracy, and the costs."""
    import torch

    from workers.proxies import PROXIES

    acc = [r["val_accuracy"] for r in rows]
    train_s = sum(r["train_seconds"] for r in rows) / len(rows)
    return {
        "space": args.space,
        "dataset": args.dataset,
        "subset": args.subset,
        "val_fraction": args.val_fraction,
        "epochs": args.epochs,
        "archs": len(rows),
        "archs_asked": args.archs,
        "batch_size": args.batch_size,
        "spearman": {k: round(spearman([r["proxies"][k] for r in rows], acc), 3) for k in PROXIES},
        "proxy_seconds_mean": {k: round(sum(r["proxy_seconds"][k] for r in rows) / len(rows), 4) for k in PROXIES},
        "train_seconds_mean": round(train_s, 3),
        "device": "cpu",
        "torch_threads": threads or torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d"),
    }


if __name__ == "__main__":
    main()
