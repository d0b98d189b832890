"""`nas train`: train one architecture with the final protocol and report test accuracy."""

from __future__ import annotations

import json
import os
import sys

from nas.cli._commands import field_option
from nas.final.protocol import FinalConfig
from workers.records import TrainConfig


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train one architecture (final protocol) and evaluate it on the test split",
        description="Train on the full training split, then evaluate once on the test split. Writes "
        "weights.safetensors, metrics.json, arch.json, model.py (Net, CLASSES, MEAN, STD, INPUT_SHAPE, "
        "preprocess) and hubconf.py to --out, in the form `nas export` writes.",
    )
    p.set_defaults(run=run)
    p.add_argument("--arch", required=True, metavar="FILE.json", help="architecture JSON (nas sample / nas export)")
    p.add_argument("--dataset", default="fashion-mnist", help="dataset to train and test on (default: fashion-mnist)")
    p.add_argument("--data-dir", help="where the dataset's files are (default: the dataset's standard places)")
    p.add_argument("--image-size", type=int, help="resize images to this side (default: the dataset's own size)")
    p.add_argument("--epochs", type=int, default=FinalConfig.epochs, help=f"(default: {FinalConfig.epochs})")
    field_option(p, "--batch-size", TrainConfig, "batch_size", type=int)
    field_option(p, "--lr", TrainConfig, "lr", type=float)
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and data order (default: 0)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--out", default="runs/train", help="output directory (default: runs/train)")
    p.add_argument("--force", action="store_true", help="overwrite files in --out")


def run(args) -> int:
    from pathlib import Path

    from nas.final.export import bundle, dataset_label, model_docstring, write_files
    from nas.final.protocol import final_train
    from nas.ir import Arch, cost
    from workers.datasets import load_dataset

    try:
        with open(args.arch, "rb") as f:
            arch = Arch.from_json(f.read())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"--arch {args.arch!r} not found; write one with `nas sample --out arch.json`"
        ) from None
    outputs = ["weights.safetensors", "metrics.json", "arch.json", "model.py", "hubconf.py"]
    existing = [n for n in outputs if os.path.exists(os.path.join(args.out, n))]
    if existing and not args.force:
        raise FileExistsError(f"--out {args.out!r} already holds {existing[0]}; pass --force or another --out")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise FileExistsError(f"--out {args.out!r} is a file; give a directory")
    overrides = {k: getattr(args, k) for k in ("batch_size", "lr") if getattr(args, k) is not None}
    train = FinalConfig.train_config(epochs=args.epochs, device=args.device, **overrides)
    # loaded here (as final_train would) to keep its class names and statistics for model.py
    data = load_dataset(
        args.dataset, data_dir=args.data_dir, image_size=args.image_size, val_fraction=0.0, seed=args.seed
    )
    res = final_train(arch, dataset=args.dataset, train=train, seed=args.seed, data=data, progress=True)
    arch_hash = arch.hash()
    k = cost(arch, res.input_shape, res.num_classes)
    label = dataset_label(data.name)
    docstring = model_docstring(
        arch_hash=arch_hash,
        provenance=[("Test", f"accuracy {res.test_accuracy:.4f} on the {label} test split (one run, `nas train`)")],
        weights=f"trained with the final protocol by `nas train` (whole {label} training split, "
        f"{res.train['epochs_run']} epochs, seed {args.seed})",
        input_shape=res.input_shape,
        num_classes=res.num_classes,
        classes=data.classes,
        mean=data.mean,
        std=data.std,
        dataset=label,
        params=k.params,
        flops=k.flops,
    )
    contents = bundle(
        arch,
        res.model,
        arch_hash=arch_hash,
        input_shape=res.input_shape,
        num_classes=res.num_classes,
        classes=data.classes,
        mean=data.mean,
        std=data.std,
        docstring=docstring,
        metadata={"arch_hash": arch_hash, "source": "nas train", "dataset": label, "seed": str(args.seed)},
    )
    metrics = {"arch_hash": arch_hash, **res.metrics()}
    contents["metrics.json"] = json.dumps(metrics, indent=2).encode()
    write_files(Path(args.out), contents)
    t = res.train
    print(
        f"test accuracy {res.test_accuracy:.4f}  test loss {res.test_loss:.4f}  "
        f"({t['epochs_run']} epochs, {t['train_seconds']:.1f}s training, {t['images_per_second']:.0f} img/s, "
        f"{t['device']}); wrote {args.out}/",
        file=sys.stdout,
    )
    return 0
