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

Options are bounded by `nas.ir.limits` (widths up to MAX_WIDTH, at most MAX_STAGES stages of at
most MAX_DEPTH nodes, MAX_NODES in all, fewer than MAX_FAN_IN skips): `SkipDAG.options_schema`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from nas.ir import MERGES, OP_TABLE, Arch, Node, op_bases, op_name
from nas.ir.limits import MAX_CHOICES, MAX_DEPTH, MAX_FAN_IN, MAX_NODES, MAX_STAGES, MAX_WIDTH
from search_spaces.base import SearchSpace, SpaceConfigError
from search_spaces.registry import register

if TYPE_CHECKING:
    from optuna.trial import BaseTrial
    from pydantic_core import CoreSchema


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
    OPTION_RULES: ClassVar[dict[str, str]] = {
        "widths": f"widths must be one non-empty list of widths per stage (at most {MAX_STAGES} stages, "
        f"MAX_STAGES), each an integer from 1 to {MAX_WIDTH} (MAX_WIDTH), e.g. [[16, 32], [32, 64]]",
        "depth": f"depth must be [min, max] nodes per stage, integers from 1 to {MAX_DEPTH} (MAX_DEPTH), e.g. [1, 3]",
        "ops": f"ops must be a non-empty list of op names from: {', '.join(op_bases())}",
        "groups": f"groups must be a list of group counts, integers from 1 to {MAX_WIDTH}, e.g. [2, 4]",
        "merges": "merges must be a non-empty list of 'add' and/or 'concat'",
        "max_skips": f"max_skips must be an integer from 0 to {MAX_FAN_IN - 1} (MAX_FAN_IN - 1)",
        "long_skips": "long_skips must be true or false",
    }

    @classmethod
    def options_schema(cls) -> CoreSchema:
        """Each option's type and bounds (`nas.ir.limits`); lists of at most MAX_CHOICES values."""
        from pydantic_core import core_schema as cs

        def option(schema: CoreSchema) -> cs.TypedDictField:
            return cs.typed_dict_field(schema, required=False)

        def choices(item: CoreSchema, min_length: int = 1) -> CoreSchema:
            return cs.list_schema(item, min_length=min_length, max_length=MAX_CHOICES)

        def integer(lo: int, hi: int) -> CoreSchema:
            return cs.int_schema(strict=True, ge=lo, le=hi)

        return cs.typed_dict_schema(
            {
                "widths": option(cs.list_schema(choices(integer(1, MAX_WIDTH)), min_length=1, max_length=MAX_STAGES)),
                "depth": option(cs.list_schema(integer(1, MAX_DEPTH), min_length=2, max_length=2)),
                "ops": option(choices(cs.literal_schema(op_bases()))),
                "groups": option(choices(integer(1, MAX_WIDTH), min_length=0)),
                "merges": option(choices(cs.literal_schema(list(MERGES)))),
                "max_skips": option(integer(0, MAX_FAN_IN - 1)),
                "long_skips": option(cs.bool_schema(strict=True)),
            },
            extra_behavior="forbid",
        )

    def check_options(self) -> None:
        """The rules across options (each option alone is checked by `options_schema`)."""
        o = self.options
        bad = SpaceConfigError
        if not o.depth[0] <= o.depth[1]:
            raise bad(f"option 'depth' must be [min, max] with 1 <= min <= max, got {list(o.depth)}")
        most = 2 + len(o.widths) * o.depth[1]
        if most > MAX_NODES:
            raise bad(
                f"options 'widths' ({len(o.widths)} stages) and 'depth' (up to {o.depth[1]} nodes each) allow "
                f"{most} nodes, more than {MAX_NODES} (MAX_NODES); lower depth[1] or use fewer stages"
            )
        if any(OP_TABLE[op][2] for op in o.ops):
            if not o.groups:
                raise bad("option 'groups' must name at least one group count when 'ops' has grouped ops, e.g. [2, 4]")
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
