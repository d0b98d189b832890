"""`skipdag`: chains of conv nodes with add/concat skip connections, within and across stages.

A network is stem -> stages -> global pool -> classifier. Stage ``s`` has ``depth_s{s}`` nodes,
all of width ``width_s{s}``; its first node downsamples. Every node takes the previous node
as input (the chain keeps every graph valid) plus up to ``max_skips`` earlier nodes, from
its own stage or, with ``long_skips``, from any earlier stage or the stem.

Optuna parameter names (each decision always has the same name and the same choices, so
TPE/GP can learn across trials; slots beyond a stage's sampled depth are simply unused):

    width_s{s}            stage width, from widths[s]
    depth_s{s}            nodes in stage s, in [depth[0], depth[1]]
    op_s{s}n{j}           the op of node j of stage s, from ops
    groups_s{s}n{j}       groups, only for gconv3x3 / shuffle3x3
    skips_s{s}n{j}        how many skip inputs, in [0, max_skips]
    skip{k}_s{s}n{j}      the k-th skip source: "stem" or "s{t}n{i}" (dropped if that slot is unused)
    merge_s{s}n{j}        add or concat, only when the node ends up with more than one input
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nas.ir import OP_TABLE, Arch, Node, op_bases, op_name
from search_spaces.base import SearchSpace, SpaceConfigError
from search_spaces.registry import register

if TYPE_CHECKING:
    from optuna.trial import BaseTrial


@dataclass(frozen=True)
class SkipDAGOptions:
    """skipdag options; the fields are the defaults (good small Fashion-MNIST/CIFAR-10 nets)."""

    widths: tuple[tuple[int, ...], ...] = ((16, 24, 32), (32, 48, 64), (64, 96, 128))
    depth: tuple[int, ...] = (1, 3)
    ops: tuple[str, ...] = tuple(op_bases())
    groups: tuple[int, ...] = (2, 4)
    merges: tuple[str, ...] = ("add", "concat")
    max_skips: int = 2
    long_skips: bool = True


@register
class SkipDAG(SearchSpace):
    """The skip-connection DAG space; see the module docstring for its parameters."""

    name = "skipdag"
    Options = SkipDAGOptions

    def check_options(self) -> None:
        o = self.options
        bad = SpaceConfigError
        if not o.widths or any(not stage for stage in o.widths):
            raise bad("option 'widths' needs one non-empty list of widths per stage, e.g. [[16, 32], [32, 64]]")
        if any(w < 1 for stage in o.widths for w in stage):
            raise bad(f"option 'widths' must hold positive integers, got {list(map(list, o.widths))}")
        if len(o.depth) != 2 or not 1 <= o.depth[0] <= o.depth[1]:
            raise bad(f"option 'depth' must be [min, max] with 1 <= min <= max, got {list(o.depth)}")
        for op in o.ops:
            if op not in op_bases():
                raise bad(f"option 'ops': unknown op {op!r}; choose from {', '.join(op_bases())}")
        if not o.ops:
            raise bad("option 'ops' must name at least one op")
        if not o.merges or any(m not in ("add", "concat") for m in o.merges):
            raise bad(f"option 'merges' must be a non-empty subset of ['add', 'concat'], got {list(o.merges)}")
        if o.max_skips < 0:
            raise bad(f"option 'max_skips' must be >= 0, got {o.max_skips}")
        if any(OP_TABLE[op][2] for op in o.ops):
            if not o.groups or any(g < 1 for g in o.groups):
                raise bad(f"option 'groups' must be positive integers, got {list(o.groups)}")
            lcm = math.lcm(*o.groups)
            for s, stage in enumerate(o.widths):
                for w in stage:
                    if w % lcm:
                        raise bad(
                            f"width {w} of stage {s} is not divisible by every group count in {list(o.groups)}; "
                            f"use multiples of {lcm}"
                        )

    def _skip_sources(self, s: int, j: int) -> list[str]:
        """Fixed candidate slots for node j of stage s (the chain predecessor is a no-op)."""
        o = self.options
        slots = ["stem"] if (o.long_skips or s == 0) else []
        for t in range(s if o.long_skips else 0):
            slots += [f"s{t}n{i}" for i in range(o.depth[1])]
        slots += [f"s{s}n{i}" for i in range(j)]
        chain = "stem" if (s, j) == (0, 0) else (f"s{s}n{j - 1}" if j else None)
        return [x for x in slots if x != chain]

    def sample(self, trial: BaseTrial) -> Arch:
        o = self.options
        widths = [trial.suggest_categorical(f"width_s{s}", list(o.widths[s])) for s in range(len(o.widths))]
        nodes = [Node("input", (), None, 0, widths[0])]
        slot = {"stem": 0}
        prev = 0
        for s, width in enumerate(widths):
            lo, hi = o.depth
            depth = trial.suggest_int(f"depth_s{s}", lo, hi) if lo < hi else lo
            for j in range(depth):
                key = f"s{s}n{j}"
                base = trial.suggest_categorical(f"op_{key}", list(o.ops))
                groups = trial.suggest_categorical(f"groups_{key}", list(o.groups)) if OP_TABLE[base][2] else 1
                inputs = [prev]
                sources = self._skip_sources(s, j)
                if sources and o.max_skips:
                    for k in range(trial.suggest_int(f"skips_{key}", 0, o.max_skips)):
                        src = slot.get(trial.suggest_categorical(f"skip{k}_{key}", sources))
                        if src is not None and src not in inputs:
                            inputs.append(src)
                merge = trial.suggest_categorical(f"merge_{key}", list(o.merges)) if len(inputs) > 1 else None
                nodes.append(Node(op_name(base, groups), tuple(inputs), merge, s, width))
                prev = slot[key] = len(nodes) - 1
        nodes.append(Node("output", (prev,), None, len(widths) - 1, widths[-1]))
        return Arch(tuple(nodes))
