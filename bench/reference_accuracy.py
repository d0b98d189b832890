"""Fashion-MNIST test accuracy of the hand-written ResNet-18-style reference, final protocol.

Trains on the full training split (no validation hold-out), evaluates once on the test split.
Anchor from the issue: about 95.4% in about 37 s of training on one H100 (bf16, data on the GPU).

    python bench/reference_accuracy.py --device cuda --epochs 30
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from bench.resnet import ResNet  # noqa: E402
from workers.datasets import load_dataset  # noqa: E402
from workers.trainer import TrainConfig, evaluate, resolve_device, train  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--data-dir")
    p.add_argument("--widths", default="64,128,256,512")
    p.add_argument("--blocks", default="2,2,2,2")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=0.2)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    device = resolve_device(args.device)
    data = load_dataset(args.dataset, data_dir=args.data_dir, val_fraction=0.0, seed=args.seed).to(device)
    torch.manual_seed(args.seed)
    model = ResNet(
        data.input_shape[0],
        [int(v) for v in args.widths.split(",")],
        [int(v) for v in args.blocks.split(",")],
        data.num_classes,
    )
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, device=str(device), seed=args.seed)
    result = train(model, data, cfg, progress=True)
    loss, acc = evaluate(model, data.test, device=device)
    print(
        json.dumps(
            {
                "model": "resnet",
                "widths": args.widths,
                "blocks": args.blocks,
                "epochs": args.epochs,
                "test_accuracy": acc,
                "test_loss": loss,
                "train_seconds": result.train_seconds,
                "images_per_second": result.images_per_second,
                "device": result.device,
                "torch": torch.__version__,
                "date": time.strftime("%Y-%m-%d"),
            }
        )
    )


if __name__ == "__main__":
    main()
