"""`nas train`: train one architecture with the final protocol and report test accuracy."""

from __future__ import annotations

import json
import os
import sys


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train one architecture (final protocol) and evaluate it on the test split",
        description="Train on the full training split, then evaluate once on the test split. Writes "
        "weights.safetensors, metrics.json, arch.json and model.py to --out.",
    )
    p.set_defaults(run=run)
    p.add_argument("--arch", required=True, metavar="FILE.json", help="architecture JSON (nas sample / nas export)")
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--data-dir")
    p.add_argument("--image-size", type=int)
    p.add_argument("--epochs", type=int, default=30, help="default: 30")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--out", default="runs/train", help="output directory (default: runs/train)")
    p.add_argument("--force", action="store_true", help="overwrite files in --out")


def run(args) -> int:
    from nas.final.protocol import final_train
    from nas.ir import Arch, to_source
    from workers.runner import state_dict_bytes

    try:
        with open(args.arch) as f:
            arch = Arch.from_json(f.read())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"--arch {args.arch!r} not found; write one with `nas sample --out arch.json`"
        ) from None
    outputs = ["weights.safetensors", "metrics.json", "arch.json", "model.py"]
    existing = [n for n in outputs if os.path.exists(os.path.join(args.out, n))]
    if existing and not args.force:
        raise FileExistsError(f"--out {args.out!r} already holds {existing[0]}; pass --force or another --out")
    train = {"epochs": args.epochs, "device": args.device}
    for key in ("batch_size", "lr"):
        if getattr(args, key) is not None:
            train[key] = getattr(args, key)
    res = final_train(
        arch,
        dataset=args.dataset,
        data_dir=args.data_dir,
        image_size=args.image_size,
        train=train,
        seed=args.seed,
        progress=True,
    )
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "weights.safetensors"), "wb") as f:
        f.write(state_dict_bytes(res.model))
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump({"arch_hash": arch.hash(), **res.metrics()}, f, indent=2)
    with open(os.path.join(args.out, "arch.json"), "w") as f:
        f.write(arch.to_json(indent=2) + "\n")
    with open(os.path.join(args.out, "model.py"), "w") as f:
        f.write(to_source(arch, res.input_shape, res.num_classes))
    t = res.train
    print(
        f"test accuracy {res.test_accuracy:.4f}  test loss {res.test_loss:.4f}  "
        f"({t['epochs_run']} epochs, {t['train_seconds']:.1f}s training, {t['images_per_second']:.0f} img/s, "
        f"{t['device']}); wrote {args.out}/",
        file=sys.stdout,
    )
    return 0
