"""Segmentation: U-Nets with and without long skips, and the best of a short `skipunet` search.

At one training budget for all (the same canvases, epochs, batch size, seed and the trainer's
defaults), trains and compares:

- `unet`: the classic U-Net preset (widths 64-128-256-512-1024, 31 M parameters);
- `unet-narrow`: the same design at widths 16-32-64-128 (`--narrow`);
- `unet-narrow-noskip`: that network without its long skips, the ablation (each decoder level
  reads the up-sampled path only);
- `skipunet-best`: the best architecture, by validation mIoU, of a short `skipunet` search run
  through the real search API (`--search-trials` trials on a `--search-subset` of canvases), then
  retrained at the shared budget.

Each is trained on the training canvases with validation canvases held out, and reports
params, MACs, training seconds, validation mIoU and, evaluated once after training, test mIoU and
pixel accuracy. The test canvases never choose anything: the search selects on validation mIoU.
Prints a table on stderr and one JSON line on stdout (and writes it with --out).

    python bench/segmentation.py --image-size 32 --subset 1500 --epochs 4 \\
        --out docs/data/segmentation-2026-12-04.json                         # the docs' figures
    python bench/segmentation.py --dataset synthetic-seg --image-size 16 --subset 64 --epochs 1 \\
        --narrow 4,8 --skip-classic --search-trials 2                           # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def widths(text: str) -> tuple[int, ...]:
    return tuple(int(w) for w in text.split(","))


def search_best(args: argparse.Namespace, folder: str):
    """The best `skipunet` architecture by validation mIoU of a short search, and the search's wall time."""
    import db
    from nas.ir import Arch
    from nas.search.config import SearchConfig
    from nas.search.driver import run_search

    url = f"sqlite:///{folder}/skipunet.db"
    config = SearchConfig(
        name="seg-bench",
        db=url,
        space="skipunet",
        dataset=args.dataset,
        image_size=args.image_size,
        subset=args.search_subset,
        val_fraction=args.val_fraction,
        trials=args.search_trials,
        sampler="tpe",
        seed=args.seed,
        executor="local",
        cpus_per_trial=args.threads,
        train={"epochs": args.search_epochs, "batch_size": args.batch_size},
    )
    t0 = time.perf_counter()
    run_search(config, progress=False)
    wall = time.perf_counter() - t0
    rows = db.connect(url).leaderboard("seg-bench")  # ranked by the search's objective, val mIoU
    if not rows:
        raise SystemExit("the skipunet search completed no trial")
    return Arch.from_json(rows[0].canonical_json), {
        "search_trials": len(rows),
        "search_seconds": round(wall, 1),
        "search_val_miou": rows[0].val_accuracy,
        "hash": rows[0].hash[:12],
    }


def run_one(name: str, arch, data, args: argparse.Namespace) -> dict:
    """Train `arch` at the shared budget; validation mIoU from the trainer, test scores once after."""
    import torch

    from nas.ir import build, cost
    from workers.dense import evaluate_dense
    from workers.records import TrainConfig
    from workers.trainer import train

    k = cost(arch, data.input_shape, data.num_classes)
    torch.manual_seed(args.seed)
    model = build(arch, data.input_shape, data.num_classes)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    result = train(model, data, config)
    if result.status != "complete":
        raise SystemExit(f"{name}: training {result.status}: {result.reason}")
    model.eval()
    _, test = evaluate_dense(
        model,
        data.test.x,
        data.test.y,
        data.num_classes,
        batch_size=256,
        device=torch.device("cpu"),
        prepare=lambda xb: xb,
    )
    return {
        "model": name,
        "params": k.params,
        "macs": k.flops,
        "long_skips": _long_skips(arch),
        "train_seconds": round(result.train_seconds, 1),
        "val_miou": round(result.val_accuracy, 4),
        "test_miou": round(test.miou, 4),
        "test_pixel_accuracy": round(test.pixel_accuracy, 4),
    }


def _long_skips(arch) -> int:
    """Encoder-to-decoder skips: edges into a merge from a node at the same stage that a deeper
    stage lies between (U-Net's long skips)."""
    order = arch.topological_order()
    pos = {i: k for k, i in enumerate(order)}
    count = 0
    for d, node in enumerate(arch.nodes):
        for j in node.inputs if len(node.inputs) > 1 else ():
            between = order[pos[j] + 1 : pos[d]]
            count += any(arch.nodes[m].stage > node.stage for m in between)
    return count


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fmnist-seg")
    p.add_argument("--image-size", type=int, default=32, help="canvas side (fmnist-seg: at least 28)")
    p.add_argument("--subset", type=int, default=1500, help="training canvases (validation in proportion)")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--epochs", type=int, default=4, help="the shared training budget")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--narrow", type=widths, default=(16, 32, 64, 128), help="widths of the narrow U-Net")
    p.add_argument("--skip-classic", action="store_true", help="leave out the 31 M-parameter classic U-Net")
    p.add_argument("--search-trials", type=int, default=8)
    p.add_argument("--search-subset", type=int, default=500)
    p.add_argument("--search-epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args(argv)

    import optuna
    import torch

    from search_spaces.presets import UNET_WIDTHS, unet
    from workers.datasets import load_dataset

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    data = load_dataset(
        args.dataset, image_size=args.image_size, subset=args.subset, val_fraction=args.val_fraction, seed=args.seed
    ).to("cpu")  # normalised once, as the final protocol does
    channels = data.input_shape[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="nas-seg-bench-") as folder:
        best, search = search_best(args, folder)
    models = [] if args.skip_classic else [("unet", unet(channels, UNET_WIDTHS))]
    models += [
        ("unet-narrow", unet(channels, args.narrow)),
        ("unet-narrow-noskip", unet(channels, args.narrow, skips=False)),
        ("skipunet-best", best),
    ]
    for name, arch in models:
        row = run_one(name, arch, data, args)
        rows.append(row)
        print(
            f"{name:<20} {row['params']:>11,} params  val mIoU {row['val_miou']:.4f}  test mIoU "
            f"{row['test_miou']:.4f}  pixel acc {row['test_pixel_accuracy']:.4f}  {row['train_seconds']} s",
            file=sys.stderr,
        )
    by = {r["model"]: r for r in rows}
    skip, noskip = by["unet-narrow"], by["unet-narrow-noskip"]
    out = {
        "dataset": args.dataset,
        "image_size": args.image_size,
        "train_canvases": len(data.train),
        "val_canvases": len(data.val),
        "test_canvases": len(data.test),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "torch_threads": torch.get_num_threads(),
        "device": "cpu",
        "date": time.strftime("%Y-%m-%d"),
        "skipunet_search": search,
        "rows": rows,
        "ratios": {
            "skips_minus_noskip_test_miou": round(skip["test_miou"] - noskip["test_miou"], 4),
            "noskip_over_skips_params": round(noskip["params"] / skip["params"], 3),
            **({"narrow_over_classic_params": round(skip["params"] / by["unet"]["params"], 4)} if "unet" in by else {}),
            "skipunet_best_over_narrow_params": round(by["skipunet-best"]["params"] / skip["params"], 3),
        },
        "seconds": round(time.perf_counter() - began, 1),
    }
    line = json.dumps(out)
    print(line)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
