"""Training throughput: a skipdag-compiled ResNet against the hand-written one, in one run.

Both go through the same trainer on the same data, alternating, after one warm-up run each;
the figure is the trainer's images/s (training steps only). Prints one JSON line per model
and the ratio compiled / hand-written (target >= 0.95).

    python bench/throughput.py --device cuda --widths 64,128,256,512 --blocks 2,2,2,2 --epochs 2
    python bench/throughput.py --device cpu --widths 16,32,64 --blocks 1,1,1 --subset 4000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from bench.resnet import ResNet, resnet_arch  # noqa: E402
from nas.ir import build  # noqa: E402
from workers.datasets import load_dataset  # noqa: E402
from workers.trainer import TrainConfig, resolve_device, train  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--data-dir")
    p.add_argument("--subset", type=int)
    p.add_argument("--widths", default="16,32,64")
    p.add_argument("--blocks", default="1,1,1")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="auto")
    p.add_argument("--cuda-graphs", type=int, default=1)
    args = p.parse_args()
    widths = [int(v) for v in args.widths.split(",")]
    blocks = [int(v) for v in args.blocks.split(",")]
    device = resolve_device(args.device)
    data = load_dataset(args.dataset, data_dir=args.data_dir, subset=args.subset).to(device)
    cfg = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, device=str(device), cuda_graphs=bool(args.cuda_graphs)
    )
    makers = {
        "compiled": lambda: build(resnet_arch(widths, blocks), data.input_shape, data.num_classes),
        "hand-written": lambda: ResNet(data.input_shape[0], widths, blocks, data.num_classes),
    }
    rates: dict[str, list[float]] = {k: [] for k in makers}
    for make in makers.values():  # warm-up (cuDNN autotune, graph capture paths)
        train(make(), data, TrainConfig(**{**cfg.to_dict(), "epochs": 1}))
    for _ in range(args.repeats):
        for name, make in makers.items():
            torch.manual_seed(0)
            r = train(make(), data, cfg)
            rates[name].append(r.images_per_second)
    info = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d"),
        "widths": widths,
        "blocks": blocks,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "train_images": len(data.train),
    }
    for name in makers:
        print(
            json.dumps(
                {"model": name, "images_per_second_median": statistics.median(rates[name]), "runs": rates[name], **info}
            )
        )
    ratio = statistics.median(rates["compiled"]) / statistics.median(rates["hand-written"])
    print(json.dumps({"ratio_compiled_over_hand_written": round(ratio, 3), "target": 0.95}))


if __name__ == "__main__":
    main()
