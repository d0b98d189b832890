"""`nas sample`: write one architecture drawn from a search space, or a named preset."""

from __future__ import annotations

import os
import sys

from nas.cli._commands import field_default
from nas.search.config import SearchConfig


def add_parser(sub) -> None:
    p = sub.add_parser(
        "sample",
        help="write a randomly sampled architecture, or a preset such as resnet18 (JSON)",
        description="Draw one architecture from a space, e.g. to try `nas train` before a search, or write "
        "a preset: one of torchvision's networks, exactly (--preset resnet18 --input-shape 3,224,224).",
    )
    p.set_defaults(run=run)
    space = field_default(SearchConfig, "space")
    p.add_argument("--space", default=space, help=f"search space (default: {space})")
    p.add_argument(
        "--space-config",
        metavar="FILE",
        help="space options from a .toml or .yaml file (default: the space's defaults)",
    )
    p.add_argument(
        "--preset",
        metavar="NAME",
        help="write this preset instead of sampling: resnet18, resnet34, resnet50, resnext50_32x4d, "
        "wide_resnet50_2, densenet121, mobilenet_v2, shufflenet_v2_x1_0, unet (default: none, sample --space)",
    )
    p.add_argument(
        "--stem",
        choices=("auto", "imagenet", "small"),
        default="auto",
        help="a preset's stem: torchvision's ImageNet stem, or the small-image (CIFAR-style) one; auto: "
        "ImageNet from 128 pixels a side (default: auto)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random sampler (default: 0)")
    p.add_argument("--out", metavar="FILE", help="write here (default: standard output)")
    p.add_argument(
        "--input-shape", default="1,28,28", help="C,H,W of the images, for a preset and the cost (default: 1,28,28)"
    )
    p.add_argument("--num-classes", type=int, default=10, help="classes, for the cost printed (default: 10)")


def run(args) -> int:
    import optuna

    import search_spaces
    from nas.cli.train import check_out_file
    from nas.ir import cost

    shape = parse_shape(args.input_shape)
    if args.num_classes < 1:
        raise ValueError(f"--num-classes {args.num_classes}: use a positive number of classes")
    if args.out is not None:
        check_out_file(args.out)  # before sampling: nothing is drawn that cannot be written
    if args.preset is not None:
        from search_spaces.presets import preset

        try:
            arch = preset(args.preset, shape, args.stem)  # as written: torchvision's layer order
        except KeyError as e:
            raise ValueError(f"--preset {e.args[0]}") from None
    else:
        space = search_spaces.get(args.space, config_file=args.space_config)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=args.seed))
        arch = space.sample(study.ask()).canonical()
    text = arch.to_json(indent=2) + "\n"
    if args.out is not None:
        write_text(args.out, text)
    else:
        sys.stdout.write(text)
    c = cost(arch, shape, args.num_classes)
    where = f" to {args.out}" if args.out else ""
    what = f"preset {args.preset}" if args.preset else "sampled"
    print(
        f"{what} {arch.hash()[:12]}{where}: {len(arch.nodes) - 2} nodes, {c.params:,} params, "
        f"{c.flops:,} MACs for {shape}",
        file=sys.stderr,
    )
    return 0


def write_text(path: str, text: str) -> None:
    """Write `text` to `path` whole or not at all: a new file beside it, then renamed over it."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=".nas-sample-", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def parse_shape(text: str) -> tuple[int, int, int]:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"--input-shape {text!r}: use C,H,W such as 1,28,28")
    return shape  # type: ignore[return-value]
