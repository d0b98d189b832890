"""`skipdag`: stages of slots (plain ops or blocks) with skip connections within and across stages.

A network is stem -> stages -> global pool -> classifier (macro mode; the cell mode is the
`skipcell` space, `search_spaces.cells`). Stage ``s`` runs at the input resolution halved ``s``
times: stage 0 at the stem's, every later stage first halves it (its *reduction*). A stage holds
``depth_s{s}`` *slots* in a chain; each slot is

    body:   a plain op (with its activation placement) or a block, reading the previous slot;
    skips:  optionally, up to ``max_skips`` other nodes merged with the body's output.

Bodies (`nas.ir.blocks`; ``w`` is the stage width, ``x`` the slot's input of width ``c``):

- ``op``: one plain op from ``ops`` (convs, grouped/shuffle/separable convs, 3x3 pools,
  identity, 'none'), activation 'post' (conv-BN-ReLU), 'pre' (BN-ReLU-conv) or 'linear' (conv-BN).
  A stage's first slot takes a weighted op (a conv) or a block, so every stage holds weights.
  'none' (later slots only) leaves the slot out: the chain goes on from its input.
- ``basic``: ResNet's BasicBlock (conv3x3-BN-ReLU, conv3x3-BN, add, ReLU; a projection shortcut
  when the shape changes).
- ``bottleneck``: ResNet's Bottleneck, 1x1 (w/4) - 3x3 (w/4) - 1x1 (w) linear, add, ReLU.
- ``invres``: MobileNetV2's inverted residual, 1x1 expand (c*t, ReLU6), dw3x3 (ReLU6), 1x1 (w)
  linear; an add when it keeps the shape.
- ``shuffle``: ShuffleNetV2's unit: channel split when it keeps the shape, two branches otherwise;
  concat and channel shuffle (w must be even).
- ``dense``: DenseNet-BC's layer as a chain: x ++ H(x), H = BN-ReLU-1x1 (w), BN-ReLU-3x3 (w/4, the
  growth); the width grows by w/4. A network that ends on one ends with BN-ReLU (DenseNet's norm5).

Residual blocks (basic, bottleneck, an invres that keeps the shape) have a residual scale ``a``
(Y = X + a*F(X)) and may zero-initialise F's last BN. A reduction (stage 1 on) is ``stride``
(the first slot's body strides), ``transition`` (DenseNet-BC: BN-ReLU-1x1 to half the width,
2x2 average pool), ``maxpool`` or ``avgpool`` (2x2, width kept). Skip sources: the slot's own
input ``in`` (a skip from it is a residual connection around the body), earlier slots of the
stage and, with ``long_skips``, the stem and every slot of earlier stages. They merge with the
body's output by ``add`` (projections align shapes; the body's last node, when a plain weighted
op, gets the scale ``a`` and may be zero-initialised, and a 'linear' body is followed by a ReLU
after the add, as ResNet v1), ``concat`` (finer inputs average-pooled; sources are kept, in
order, while the width stays within 4w) or ``join`` (concat, then a 1x1 conv-BN-ReLU back to w:
the bottleneck join). A stage with three slots or more may tie its repeated slots: slots 2, 3,
... copy slot 1's body decisions and every layer of theirs that has the shape of slot 1's
shares its weights (counted once).

``ops`` is the vocabulary: plain slots choose among its plain ops, and a block, stem, reduction
or the join is offered only when every op it is made of is in it (so ``ops = ["conv1x1"]`` gives
plain 1x1 convs only); ``blocks``, ``stems``, ``reductions`` and ``merges`` narrow further.

Optuna parameter names (each name always has the same choices, so TPE/GP can learn across
trials; a decision with one choice is not asked; slots beyond a stage's depth are unused)::

    stem                  stem: conv3x3 (the 'input' node), conv3x3x2, conv3x3x3 (1-3 convs)
    stem_width            its width, from stem_widths
    width_s{s}            stage width, from widths[s]
    depth_s{s}            slots in stage s, in [depth[0], depth[1]]
    reduce_s{s}           s >= 1: stride, transition, maxpool or avgpool (from reductions)
    tie_s{s}              slots 2.. copy slot 1 and share its weights (asked when depth_s{s} >= 3)
    kind_s{s}n{j}         'op' or a block: basic, bottleneck, invres, shuffle, dense
    op_s{s}n{j}           the plain op; n0 from the weighted ops, later slots from every plain op
    groups_s{s}n{j}       groups of gconv3x3 / shuffle3x3, from groups (the op takes the largest
                          count that divides its input width, when the sampled one does not)
    act_s{s}n{j}          activation of a weighted plain op, from acts
    expand_s{s}n{j}       invres expansion t, from expansions
    scale_s{s}n{j}        residual scale a, from scales (residual blocks; weighted op + add skip)
    zinit_s{s}n{j}        zero-init of the residual branch's last BN, from zero_init (same cases)
    skips_s{s}n{j}        how many skip sources, in [0, max_skips]
    skip{k}_s{s}n{j}      the k-th source: "in", "stem" or "s{t}n{i}" (dropped if unused or 'none')
    merge_s{s}n{j}        add, concat or join, when a source is left

`SkipDAG.designs()` names known networks by these parameters (a ResNet 32-64-128, a ResNet
36-72-144, a DenseNet-BC with growth 12 and a small ShuffleNetV2); ``nas search
--enqueue-preset NAME`` enqueues them. Options are bounded by `nas.ir.limits`
(`SkipDAG.options_schema`). docs/spaces.md has the capacity figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from nas.ir import OP_TABLE, Arch, op_name, parse_op
from nas.ir.blocks import Builder, basic_block, shufflenet_v2_unit
from nas.ir.limits import MAX_CHOICES, MAX_DEPTH, MAX_FAN_IN, MAX_NODES, MAX_SCALE, MAX_STAGES, MAX_WIDTH
from search_spaces.base import SearchSpace, SpaceConfigError
from search_spaces.registry import register

if TYPE_CHECKING:
    from optuna.trial import BaseTrial
    from pydantic_core import CoreSchema

__all__ = ["BLOCKS", "CHAIN_OPS", "SPACE_OPS", "SkipDAG", "SkipDAGOptions"]

#: Plain ops a slot may take: any width in, its own width out (not the width-preserving
#: depthwise/shuffle/split ops, which only blocks use).
CHAIN_OPS: tuple[str, ...] = (
    "conv3x3",
    "conv5x5",
    "conv1x1",
    "gconv3x3",
    "shuffle3x3",
    "sepconv3x3",
    "sepconv5x5",
    "maxpool3x3",
    "avgpool3x3",
    "identity",
)
#: Every op the space can use (the `ops` vocabulary): the plain ops, 'none', and the ops that
#: only blocks and reductions use.
SPACE_OPS: tuple[str, ...] = (
    *CHAIN_OPS,
    "none",
    "dwconv3x3",
    "chunk0",
    "chunk1",
    "chshuffle",
    "maxpool2x2",
    "avgpool2x2",
)
#: Blocks and the ops each is made of (adds and concats are structure: identity nodes).
BLOCKS: dict[str, tuple[str, ...]] = {
    "basic": ("conv3x3",),
    "bottleneck": ("conv1x1", "conv3x3"),
    "invres": ("conv1x1", "dwconv3x3"),
    "shuffle": ("conv1x1", "dwconv3x3", "chunk0", "chunk1", "chshuffle"),
    "dense": ("conv1x1", "conv3x3"),
}
#: Nodes a block body adds at most.
_BLOCK_NODES = {"op": 1, "basic": 3, "bottleneck": 4, "invres": 4, "shuffle": 6, "dense": 3}
RESIDUAL_BLOCKS = frozenset({"basic", "bottleneck", "invres"})
#: Stems: the 'input' node (conv3x3-BN-ReLU), then 0-2 more conv3x3-BN-ReLU (a deep stem).
STEMS: dict[str, tuple[str, ...]] = {"conv3x3": (), "conv3x3x2": ("conv3x3",), "conv3x3x3": ("conv3x3",)}
_STEM_CONVS = {"conv3x3": 1, "conv3x3x2": 2, "conv3x3x3": 3}
#: Reductions (how stages 1.. halve the resolution) and the ops each is made of.
REDUCTIONS: dict[str, tuple[str, ...]] = {
    "stride": (),
    "transition": ("conv1x1", "avgpool2x2"),
    "maxpool": ("maxpool2x2",),
    "avgpool": ("avgpool2x2",),
}
SKIP_MERGES: dict[str, tuple[str, ...]] = {"add": (), "concat": (), "join": ("conv1x1",)}
ACT_CHOICES = ("post", "pre", "linear", "relu6")
#: A concat merge keeps its sources while its width stays within this many times the stage width.
CONCAT_CAP = 4


@dataclass(frozen=True)
class SkipDAGOptions:
    """skipdag options; the fields are the defaults (about 20k to 5M parameters at 1x28x28)."""

    widths: tuple[tuple[int, ...], ...] = (
        (16, 24, 32, 36, 48, 64),
        (32, 48, 64, 72, 96, 128),
        (48, 96, 128, 144, 192, 256),
    )
    depth: tuple[int, ...] = (1, 6)
    ops: tuple[str, ...] = SPACE_OPS
    blocks: tuple[str, ...] = tuple(BLOCKS)
    stems: tuple[str, ...] = tuple(STEMS)
    stem_widths: tuple[int, ...] = (16, 24, 32, 36, 48, 64)
    reductions: tuple[str, ...] = tuple(REDUCTIONS)
    groups: tuple[int, ...] = (2, 4)
    acts: tuple[str, ...] = ("post", "pre", "linear")
    expansions: tuple[int, ...] = (1, 3, 6)
    merges: tuple[str, ...] = tuple(SKIP_MERGES)
    scales: tuple[float, ...] = (1.0, 0.2, 0.1)
    zero_init: tuple[bool, ...] = (False, True)
    tie: tuple[bool, ...] = (False, True)
    max_skips: int = 2
    long_skips: bool = True


@dataclass(frozen=True)
class _Body:
    """The body decisions of one slot (copied as a whole by the tied slots of a stage)."""

    kind: str
    op: str = ""  # the plain op's base name
    groups: int = 1  # sampled for a grouped op; the op takes the largest count dividing its widths
    act: str | None = None
    expand: int = 1
    scale: float = 1.0
    zero_init: bool = False


def _offered(names: Sequence[str], table: dict[str, tuple[str, ...]], ops: Sequence[str]) -> list[str]:
    return [n for n in names if set(table[n]) <= set(ops)]


@dataclass(frozen=True)
class _Offer:
    """What the options offer once `ops` has narrowed them (see the module docstring)."""

    blocks: list[str]
    stems: list[str]
    reductions: list[str]
    merges: list[str]
    plain: list[str]  # plain ops of later slots ('none' included)
    weighted: list[str]  # plain ops of a stage's first slot
    first_kinds: list[str]  # 'op' and blocks, for a stage's first slot
    kinds: list[str]  # for later slots

    @classmethod
    def of(cls, o: SkipDAGOptions) -> _Offer:
        blocks = _offered(o.blocks, BLOCKS, o.ops)
        plain = [op for op in o.ops if op in CHAIN_OPS or op == "none"]
        weighted = [op for op in plain if _weighted(op)]
        return cls(
            blocks,
            _offered(o.stems, STEMS, o.ops),
            _offered(o.reductions, REDUCTIONS, o.ops),
            _offered(o.merges, SKIP_MERGES, o.ops),
            plain,
            weighted,
            (["op"] if weighted else []) + blocks,
            (["op"] if plain else []) + blocks,
        )


@register
class SkipDAG(SearchSpace):
    """The skip-connection DAG space (macro mode); see the module docstring for its parameters."""

    name = "skipdag"
    Options = SkipDAGOptions
    OPTION_RULES: ClassVar[dict[str, str]] = {
        "widths": f"widths must be one non-empty list of widths per stage (at most {MAX_STAGES} stages, "
        f"MAX_STAGES), each an integer from 1 to {MAX_WIDTH} (MAX_WIDTH), e.g. [[16, 32], [32, 64]]",
        "depth": f"depth must be [min, max] slots per stage, integers from 1 to {MAX_DEPTH} (MAX_DEPTH), e.g. [1, 3]",
        "ops": f"ops must be a non-empty list of op names from: {', '.join(SPACE_OPS)}",
        "blocks": f"blocks must be a list of block names from: {', '.join(BLOCKS)}",
        "stems": f"stems must be a non-empty list from: {', '.join(STEMS)}",
        "stem_widths": f"stem_widths must be a non-empty list of integers from 1 to {MAX_WIDTH} (MAX_WIDTH)",
        "reductions": f"reductions must be a non-empty list from: {', '.join(REDUCTIONS)}",
        "groups": f"groups must be a list of group counts, integers from 1 to {MAX_WIDTH}, e.g. [2, 4]",
        "acts": f"acts must be a non-empty list from: {', '.join(ACT_CHOICES)}",
        "expansions": "expansions must be a non-empty list of integers from 1 to 16, e.g. [1, 3, 6]",
        "merges": "merges must be a non-empty list of 'add', 'concat' and/or 'join'",
        "scales": f"scales must be a non-empty list of numbers above 0 and at most {MAX_SCALE}, e.g. [1.0, 0.1]",
        "zero_init": "zero_init must be a non-empty list of true and/or false",
        "tie": "tie must be a non-empty list of true and/or false",
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

        def names(values: Sequence[str], min_length: int = 1) -> CoreSchema:
            return choices(cs.literal_schema(list(values)), min_length)

        return cs.typed_dict_schema(
            {
                "widths": option(cs.list_schema(choices(integer(1, MAX_WIDTH)), min_length=1, max_length=MAX_STAGES)),
                "depth": option(cs.list_schema(integer(1, MAX_DEPTH), min_length=2, max_length=2)),
                "ops": option(names(SPACE_OPS)),
                "blocks": option(names(tuple(BLOCKS), min_length=0)),
                "stems": option(names(tuple(STEMS))),
                "stem_widths": option(choices(integer(1, MAX_WIDTH))),
                "reductions": option(names(tuple(REDUCTIONS))),
                "groups": option(choices(integer(1, MAX_WIDTH), min_length=0)),
                "acts": option(names(ACT_CHOICES)),
                "expansions": option(choices(integer(1, 16))),
                "merges": option(names(tuple(SKIP_MERGES))),
                "scales": option(choices(cs.float_schema(strict=True, gt=0, le=MAX_SCALE))),
                "zero_init": option(choices(cs.bool_schema(strict=True))),
                "tie": option(choices(cs.bool_schema(strict=True))),
                "max_skips": option(integer(0, MAX_FAN_IN - 1)),
                "long_skips": option(cs.bool_schema(strict=True)),
            },
            extra_behavior="forbid",
        )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # a file may give a scale as an integer (1 for 1.0); the choices are floats
        self.options = replace(self.options, scales=tuple(float(a) for a in self.options.scales))
        self._offer = _Offer.of(self.options)

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
        grouped = [op for op in o.ops if op in CHAIN_OPS and OP_TABLE[op][2]]
        if grouped:
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
        offer = _Offer.of(o)
        if not offer.first_kinds:
            raise bad(
                "a stage's first slot needs a weighted op or a block: option 'ops' must hold a conv "
                "(e.g. conv3x3), or 'blocks' a block whose ops are in 'ops'"
            )
        if "shuffle" in offer.blocks:
            for s, stage in enumerate(o.widths):
                for w in stage:
                    if w % 2:
                        raise bad(
                            f"width {w} of stage {s} is odd, and the 'shuffle' block splits widths in two; "
                            "use even widths or leave 'shuffle' out of option 'blocks'"
                        )
        slot = max(_BLOCK_NODES[k] for k in ["op", *offer.blocks]) + (1 if o.max_skips else 0)
        extra = 3 + 2 * (len(o.widths) - 1) + 2  # stem, reductions, norm and output
        most = extra + len(o.widths) * o.depth[1] * slot
        if most > MAX_NODES:
            raise bad(
                f"options 'widths' ({len(o.widths)} stages), 'depth' (up to {o.depth[1]} slots each) and "
                f"'blocks' (up to {slot} nodes a slot) allow {most} nodes, more than {MAX_NODES} (MAX_NODES); "
                "lower depth[1], use fewer stages or fewer blocks"
            )

    # ---- sampling ---------------------------------------------------------------------------
    def _skip_sources(self, s: int, j: int) -> list[str]:
        """Fixed candidate sources for slot j of stage s: its input, the stem, earlier slots."""
        o = self.options
        slots = ["in"] + (["stem"] if (o.long_skips or s == 0) else [])
        for t in range(s if o.long_skips else 0):
            slots += [f"s{t}n{i}" for i in range(o.depth[1])]
        return slots + [f"s{s}n{i}" for i in range(j - 1)]  # s{s}n{j-1} is "in"

    def sample(self, trial: BaseTrial) -> Arch:
        o = self.options
        pick = _Picker(trial)
        b = Builder()
        stem = pick("stem", self._offer.stems)
        stem_width = pick("stem_width", list(o.stem_widths))
        prev = b.stem("input", stem_width)
        for _ in range(_STEM_CONVS[stem] - 1):
            prev = b.add("conv3x3", prev, stem_width)
        slots: dict[str, int] = {"stem": prev}
        last: _Body | None = None
        for s in range(len(o.widths)):
            w = pick(f"width_s{s}", list(o.widths[s]))
            lo, hi = o.depth
            depth = trial.suggest_int(f"depth_s{s}", lo, hi) if lo < hi else lo
            stride = 1
            if s:
                reduction = pick(f"reduce_s{s}", self._offer.reductions)
                prev, stride = _reduce(b, prev, reduction)
            tie = depth >= 3 and pick(f"tie_s{s}", list(o.tie))
            bodies: list[list[int]] = []
            first: _Body | None = None
            for j in range(depth):
                key = f"s{s}n{j}"
                cin = b.width(prev)
                slot_stride = stride if j == 0 else 1
                if tie and j >= 2 and first is not None:
                    body = first
                else:
                    body = self._sample_body(pick, key, j, cin, w, slot_stride)
                    if j == 1:
                        first = body
                if body.kind == "op" and body.op == "none":
                    b.add("none", prev, w)  # later slots only: the chain goes on from `prev`
                    bodies.append([])
                    continue
                start = len(b.nodes)
                y = _build_body(b, body, prev, w, slot_stride)
                bodies.append(list(range(start, len(b.nodes))))
                prev = slots[key] = self._merge(pick, b, key, s, j, body, y, prev, slots, w)
                last = body
            if tie:
                _tie(b, bodies[1:])
        if last is not None and last.kind == "dense" and parse_op(b.nodes[prev].op).kind == "identity":
            prev = b.add("identity", prev, b.width(prev), act="pre")  # DenseNet's norm5: BN-ReLU
        return b.output(prev)

    def _sample_body(self, pick: _Picker, key: str, j: int, cin: int, w: int, stride: int) -> _Body:
        o = self.options
        kind = pick(f"kind_{key}", self._offer.first_kinds if j == 0 else self._offer.kinds)
        if kind == "op":
            op = pick(f"op_{key}", self._offer.weighted if j == 0 else self._offer.plain)
            groups = pick(f"groups_{key}", list(o.groups)) if OP_TABLE[op][2] else 1
            act = pick(f"act_{key}", list(o.acts)) if _weighted(op) else None
            return _Body("op", op, groups, act)
        expand = pick(f"expand_{key}", list(o.expansions)) if kind == "invres" else 1
        residual = kind in ("basic", "bottleneck") or (kind == "invres" and stride == 1 and cin == w)
        if residual:
            scale = pick(f"scale_{key}", list(o.scales))
            zero = pick(f"zinit_{key}", list(o.zero_init))
            return _Body(kind, expand=expand, scale=scale, zero_init=zero)
        return _Body(kind, expand=expand)

    def _merge(
        self,
        pick: _Picker,
        b: Builder,
        key: str,
        s: int,
        j: int,
        body: _Body,
        y: int,
        x: int,
        slots: dict[str, int],
        w: int,
    ) -> int:
        """The slot's output: the body's output `y`, merged with the sampled skip sources."""
        o = self.options
        if not o.max_skips:
            return y
        sources = self._skip_sources(s, j)
        found: list[int] = []
        for k in range(pick.trial.suggest_int(f"skips_{key}", 0, o.max_skips)):
            name = pick(f"skip{k}_{key}", sources)
            src = x if name == "in" else slots.get(name)
            if src is not None and src != y and src not in found:
                found.append(src)
        if not found:
            return y
        merge = pick(f"merge_{key}", self._offer.merges)
        if merge == "join":
            return b.add("conv1x1", (y, *found), w, b.stage(y), merge="concat")
        if merge == "concat":
            cap, total, kept = min(CONCAT_CAP * w, MAX_WIDTH), b.width(y), []
            for src in found:
                if total + b.width(src) <= cap:
                    kept.append(src)
                    total += b.width(src)
            return b.add("identity", (y, *kept), total, b.stage(y), merge="concat") if kept else y
        act = None
        if body.kind == "op" and _weighted(body.op):
            scale = pick(f"scale_{key}", list(o.scales))
            zero = pick(f"zinit_{key}", list(o.zero_init))
            b.nodes[y] = replace(b.nodes[y], scale=scale, zero_init=zero)
            act = "post" if body.act == "linear" else None  # ResNet v1: the ReLU after the add
        return b.add("identity", (y, *found), b.width(y), b.stage(y), merge="add", act=act)

    # ---- designs -----------------------------------------------------------------------------
    def designs(self) -> dict[str, dict[str, Any]]:
        """Known networks in this space, by name: the Optuna parameters that sample each
        (for `optuna.trial.FixedTrial` or `study.enqueue_trial`). Only those this configured
        space contains are listed (all of them with the default options):

        - ``resnet_32_64_128``: CIFAR-style ResNet, basic blocks 2-2-2, 0.70M parameters;
        - ``resnet_36_72_144``: the same with 3-3-2 blocks, 1.0M;
        - ``densenet_bc_k12``: DenseNet-BC-40 (growth 12, 3 x 6 bottleneck layers, compression 0.5);
        - ``shufflenet_v2_small``: ShuffleNetV2 units 4-4-2 at widths 48-96-192 (stem 16), 83k.
        """
        return {name: params for name, params in DESIGNS.items() if self._contains(params)}

    def _contains(self, params: dict[str, Any]) -> bool:
        import warnings

        from optuna.trial import FixedTrial

        trial = FixedTrial(params)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a value out of an int range only warns
                self.sample(trial)
        except (ValueError, Warning):
            return False
        return set(trial.params) == set(params)


def _weighted(base: str) -> bool:
    return parse_op(op_name(base, 1)).weighted


class _Picker:
    """`trial.suggest_categorical`, not asked when there is only one choice."""

    def __init__(self, trial: BaseTrial) -> None:
        self.trial = trial

    def __call__(self, name: str, choices: list[Any]) -> Any:
        return choices[0] if len(choices) == 1 else self.trial.suggest_categorical(name, choices)


def _reduce(b: Builder, x: int, reduction: str) -> tuple[int, int]:
    """A stage's reduction: (the node the stage starts from, the stride of its first slot)."""
    if reduction == "stride":
        return x, 2
    if reduction == "transition":  # DenseNet-BC: BN-ReLU-1x1 to half the width, 2x2 average pool
        c = b.add("conv1x1", x, max(1, b.width(x) // 2), act="pre")
        return b.add("avgpool2x2", c, b.width(c), b.stage(c) + 1), 1
    return b.add(f"{reduction}2x2", x, b.width(x), b.stage(x) + 1), 1


def _build_body(b: Builder, body: _Body, x: int, w: int, stride: int) -> int:
    """Append the body's nodes reading `x`; return its output node."""
    cin, out_stage = b.width(x), b.stage(x) + (1 if stride == 2 else 0)
    if body.kind == "op":  # a grouped op whose input width the count does not divide takes the gcd
        op = op_name(body.op, math.gcd(body.groups, cin, w)) if OP_TABLE[body.op][2] else body.op
        return b.add(op, x, w, out_stage, act=body.act)
    if body.kind == "basic":
        return basic_block(b, x, w, stride, scale=body.scale, zero_init=body.zero_init)
    if body.kind == "bottleneck":  # torchvision's Bottleneck, expansion 4 (inner width w // 4)
        inner = max(1, w // 4)
        a = b.add("conv1x1", x, inner)
        m = b.add("conv3x3", a, inner, out_stage)
        f = b.add("conv1x1", m, w, act="linear", scale=body.scale, zero_init=body.zero_init)
        return b.add("identity", (f, x), w, merge="add", act="post")
    if body.kind == "invres":  # MobileNetV2's inverted residual (nas.ir.blocks), with a and zero-init
        hidden = min(cin * body.expand, MAX_WIDTH)
        h = b.add("conv1x1", x, hidden, act="relu6") if body.expand != 1 else x
        d = b.add("dwconv3x3", h, b.width(h), out_stage, act="relu6")
        residual = stride == 1 and cin == w
        attrs: dict[str, Any] = {"scale": body.scale, "zero_init": body.zero_init} if residual else {}
        p = b.add("conv1x1", d, w, act="linear", **attrs)
        return b.add("identity", (p, x), w, merge="add") if residual else p
    if body.kind == "shuffle":
        if stride == 2 or cin == w:
            return shufflenet_v2_unit(b, x, w, stride)
        # the two-branch form at stride 1, for an input of another width
        left = b.add("conv1x1", b.add("dwconv3x3", x, cin, act="linear"), w // 2)
        r = b.add("conv1x1", x, w // 2)
        r = b.add("conv1x1", b.add("dwconv3x3", r, w // 2, act="linear"), w // 2)
        return b.add("chshuffle_g2", (left, r), w, merge="concat")
    # dense: x ++ H(x), H = BN-ReLU-1x1 (w), BN-ReLU-3x3 (growth w // 4)
    growth = max(1, w // 4)
    a = b.add("conv1x1", x, w, act="pre")
    h = b.add("conv3x3", a, growth, out_stage, act="pre")
    if cin + growth > MAX_WIDTH:
        return h
    return b.add("identity", (x, h), cin + growth, out_stage, merge="concat")


def _tie(b: Builder, bodies: list[list[int]]) -> None:
    """Share weights between the layers of `bodies` (the repeated slots of a stage) that have the
    same place in their body and the same shape (op, act, widths, stride, dilation, zero-init)."""
    groups: dict[tuple[object, ...], list[int]] = {}
    for body in bodies:
        for pos, i in enumerate(body):
            n = b.nodes[i]
            if not parse_op(n.op).weighted or len(n.inputs) != 1:
                continue
            src = b.nodes[n.inputs[0]]
            shape = (pos, n.op, n.act, src.width, n.width, n.stage - src.stage, n.dilation, n.zero_init)
            groups.setdefault(shape, []).append(i)
    for members in groups.values():
        if len(members) > 1:
            tie = b.new_tie()
            for i in members:
                b.nodes[i] = replace(b.nodes[i], tie=tie)


# ---- designs: known networks as parameters of the default space ---------------------------------
def _design(stem_width: int, widths: Sequence[int], depths: Sequence[int], kind: str, reduce: str) -> dict[str, Any]:
    params: dict[str, Any] = {"stem": "conv3x3", "stem_width": stem_width}
    for s, (w, n) in enumerate(zip(widths, depths, strict=True)):
        params |= {f"width_s{s}": w, f"depth_s{s}": n}
        if s:
            params[f"reduce_s{s}"] = reduce
        if n >= 3:
            params[f"tie_s{s}"] = False
        for j in range(n):
            key = f"s{s}n{j}"
            params |= {f"kind_{key}": kind, f"skips_{key}": 0}
            if kind in ("basic", "bottleneck"):
                params |= {f"scale_{key}": 1.0, f"zinit_{key}": False}
    return params


#: name -> Optuna parameters of the default space (see `SkipDAG.designs`).
DESIGNS: dict[str, dict[str, Any]] = {
    "resnet_32_64_128": _design(32, (32, 64, 128), (2, 2, 2), "basic", "stride"),
    "resnet_36_72_144": _design(36, (36, 72, 144), (3, 3, 2), "basic", "stride"),
    "densenet_bc_k12": _design(24, (48, 48, 48), (6, 6, 6), "dense", "transition"),
    "shufflenet_v2_small": _design(16, (48, 96, 192), (4, 4, 2), "shuffle", "stride"),
}
