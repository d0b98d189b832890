"""`nas space`: describe a search space: its choices, its size, and what random samples look like."""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

from nas.cli._commands import field_default
from nas.search.config import SearchConfig

#: The quantiles of params and FLOPs reported (the JSON keys are their str()).
QUANTILES = (0.1, 0.5, 0.9)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "space",
        help="describe a search space: choices, size, params/FLOPs and op mix of random samples",
        description="Draw --samples random architectures from a space and summarise them (no training, no "
        "database). The size is an upper bound: the product of every parameter's choices.",
    )
    p.set_defaults(run=run)
    space = field_default(SearchConfig, "space")
    p.add_argument("--space", default=space, help=f"search space (default: {space})")
    p.add_argument("--space-config", metavar="FILE", help="space options from a .toml or .yaml file (default: none)")
    p.add_argument("--samples", type=int, default=500, help="random architectures to draw (default: 500)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random sampler (default: 0)")
    p.add_argument("--input-shape", default="1,28,28", help="C,H,W for params and FLOPs (default: 1,28,28)")
    p.add_argument("--num-classes", type=int, default=10, help="classes, for params and FLOPs (default: 10)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")


def _quantiles(values: list[int]) -> dict[str, int]:
    s = sorted(values)
    out = {"min": s[0]}
    for q in QUANTILES:
        out[str(q)] = s[min(len(s) - 1, round(q * (len(s) - 1)))]
    out["max"] = s[-1]
    return out


def _choices(dist: Any) -> tuple[int, list[Any] | str]:
    """(number of values, what they are) of an Optuna distribution."""
    if hasattr(dist, "choices"):
        return len(dist.choices), list(dist.choices)
    low, high = dist.low, dist.high
    if isinstance(low, int) and isinstance(high, int):
        step = getattr(dist, "step", 1) or 1
        return (high - low) // step + 1, f"{low}..{high}"
    return 0, f"{low}..{high} (continuous)"


def describe(space: Any, samples: int, seed: int, shape: tuple[int, int, int], classes: int) -> dict[str, Any]:
    """The summary `nas space` prints, as data."""
    import optuna

    from nas.ir import cost, parse_op

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    dists: dict[str, Any] = {}
    params, flops, hashes = [], [], set()
    kinds: dict[str, int] = {}
    nodes = long = 0
    progress = _bar(samples)
    for _ in range(samples):
        trial = study.ask()
        arch = space.sample(trial).canonical()
        dists.update(trial.distributions)
        study.tell(trial, 0.0)
        k = cost(arch, shape, classes)
        params.append(k.params)
        flops.append(k.flops)
        hashes.add(arch.hash())
        for n in arch.nodes:
            kind = parse_op(n.op).kind
            if kind not in ("input", "image", "output", "pixels"):
                kinds[kind] = kinds.get(kind, 0) + 1
                nodes += 1
        long += arch.summary()["long_skips"] > 0
        if progress is not None:
            progress.update(1)
    if progress is not None:
        progress.close()
    choices = {name: _choices(d) for name, d in sorted(dists.items())}
    finite = [n for n, _ in choices.values() if n > 0]
    return {
        "space": space.name,
        "input_shape": list(shape),
        "num_classes": classes,
        "samples": samples,
        "seed": seed,
        "choices": {name: values for name, (_, values) in choices.items()},
        "parameters": len(choices),
        "log10_size": round(sum(math.log10(n) for n in finite), 1),
        "log10_size_is": "an upper bound: the product of every parameter's number of choices",
        "distinct_in_samples": len(hashes),
        "params_quantiles": _quantiles(params),
        "flops_quantiles": _quantiles(flops),
        "op_fractions": {k: round(v / max(1, nodes), 4) for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])},
        "long_skip_fraction": round(long / samples, 4),
    }


def _bar(total: int):
    if not sys.stderr.isatty():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="sampling", unit="arch", leave=False)


def run(args) -> int:
    import search_spaces
    from nas.cli.sample import parse_shape

    shape = parse_shape(args.input_shape)
    if args.samples < 1:
        raise ValueError(f"--samples {args.samples}: draw at least 1 architecture")
    if args.num_classes < 1:
        raise ValueError(f"--num-classes {args.num_classes}: use a positive number of classes")
    space = search_spaces.get(args.space, config_file=args.space_config)
    info = describe(space, args.samples, args.seed, shape, args.num_classes)
    if args.format == "json":
        print(json.dumps(info))
        return 0
    _print_table(info)
    return 0


def _human(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def _print_table(info: dict[str, Any]) -> None:
    out = sys.stdout.write
    out(f"space {info['space']}: {info['parameters']} parameters, about 10^{info['log10_size']} architectures ")
    out(f"(upper bound); {info['distinct_in_samples']} distinct in {info['samples']} samples\n\n")
    groups: dict[tuple[str, str], int] = {}  # (name pattern, its choices) -> how many parameters
    for name, values in info["choices"].items():
        text = values if isinstance(values, str) else ", ".join(map(str, values))
        pattern = re.sub(r"(?<=[a-z])\d+", "*", name)  # width_s2 -> width_s*, op_s0n3 -> op_s*n*
        groups[(pattern, text)] = groups.get((pattern, text), 0) + 1
    width = max((len(p) for p, _ in groups), default=10) + 5
    out("choices (parameters with the same pattern and choices grouped):\n")
    for (pattern, text), n in groups.items():
        label = f"{pattern} x{n}" if n > 1 else pattern
        out(f"  {label:<{width}}  {text[:80] + ('...' if len(text) > 80 else '')}\n")
    keys = ["min", *map(str, QUANTILES), "max"]
    shape = "x".join(map(str, info["input_shape"]))
    out(f"\nat {shape}, {info['num_classes']} classes, over {info['samples']} samples:\n")
    out(f"  {'':<8}" + "".join(f"{k:>10}" for k in keys) + "\n")
    for label, q in (("params", info["params_quantiles"]), ("MACs", info["flops_quantiles"])):
        out(f"  {label:<8}" + "".join(f"{_human(q[k]):>10}" for k in keys) + "\n")
    out("\nop kinds (share of nodes): ")
    out(", ".join(f"{k} {v:.1%}" for k, v in info["op_fractions"].items()) + "\n")
    out(f"with a long skip: {info['long_skip_fraction']:.1%} of samples\n")
