"""`skipunet`: encoder-decoders with long skips (U-Net, UNet++) for dense prediction.

A network is a stem (the 'input' node: conv3x3-BN-ReLU from the image's channels to level 0's
width, so one architecture takes images of any channel count), an encoder of ``levels`` levels,
a decoder back up to level 0 and a per-pixel output (the IR's 'pixels' node: a 1x1 conv to the
classes). Level ``k`` runs at the input resolution halved ``k`` times (stage ``k``); the deepest
level is the bottleneck.

    encoder   level 0: block(stem); level k >= 1: down (2x2 max or average pool), then block
    decoder   level k (from the deepest - 1 up to 0): up(decoder k + 1), merged with the long
              skip from encoder level k, then block
    output    'pixels' on decoder level 0

Blocks (`nas.ir.blocks`; ``w`` is the level's width, ``x`` the block's input):

- ``double``: U-Net's two bias-free conv3x3-BN-ReLU (the merge feeds the first conv directly);
- ``basic``: ResNet's BasicBlock (a projection shortcut when the input width differs);
- ``bottleneck``: ResNet's Bottleneck, 1x1 (w/4) - 3x3 - 1x1 (w) linear, add, ReLU;
- ``invres``: MobileNetV2's inverted residual (expansion ``expansion``);
- ``shuffle``: ShuffleNetV2's unit (a conv1x1-BN-ReLU to w first when the input width differs);
- ``dense``: ``dense_layers`` DenseNet layers of growth w/4 on the block's inputs (a concat of
  the skip and the up-sampled map is the dense block's first feature list), then DenseNet's
  transition conv (BN-ReLU-conv1x1 to w, no pool).

Long skips, per level: ``concat`` (U-Net: [skip, up-sampled], skip first), ``add`` (the maps
are summed, projections where widths differ) or ``none`` (the decoder level sees only the
up-sampled map). Up-sampling (one kind per network): ``upconv2x2`` (ConvTranspose2d 2x2,
stride 2, with bias, U-Net's), ``upbilinear`` or ``upnearest`` (resize x2, conv3x3-BN-ReLU).

``nested`` (UNet++, Zhou et al. 2018): the decoder becomes the grid X[i][j] (level i, column
j >= 1) = block_i(merge(X[i][0], ..., X[i][j-1], up(X[i+1][j-1]))), each level's skip merge
and decoder block applying to its whole row; the output reads X[0][levels - 1]. With two levels
it is the plain U-Net, so it is asked from three levels on.

``ops`` is the vocabulary: a block, down or up kind is offered only when every op it is made of
is in it; ``blocks``, ``skips``, ``ups``, ``downs`` narrow further.

Optuna parameter names (each always has the same choices; one with a single choice is not
asked; levels beyond ``levels`` are unused)::

    levels          number of levels, in [levels[0], levels[1]]
    width_l{k}      width of level k (encoder and decoder), from widths[k]
    down            pooling between levels: maxpool or avgpool
    up              up-sampling kind: upconv2x2, upbilinear or upnearest
    enc_l{k}        encoder block of level k
    dec_l{k}        decoder block of level k (k < levels - 1)
    skip_l{k}       long skip of level k: concat, add or none (k < levels - 1)
    nested          UNet++ nested skips (asked when levels >= 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from nas.ir import Arch
from nas.ir.blocks import Builder, basic_block, bottleneck, dense_layer, inverted_residual, shufflenet_v2_unit
from nas.ir.limits import MAX_CHOICES, MAX_NODES, MAX_STAGES, MAX_WIDTH
from search_spaces.base import SearchSpace, SpaceConfigError
from search_spaces.registry import register

if TYPE_CHECKING:
    from optuna.trial import BaseTrial
    from pydantic_core import CoreSchema

__all__ = ["BLOCKS", "DOWNS", "SKIPS", "SPACE_OPS", "UPS", "SkipUNet", "SkipUNetOptions"]

#: Every op the space can use (the `ops` vocabulary).
SPACE_OPS: tuple[str, ...] = (
    "conv3x3",
    "conv1x1",
    "dwconv3x3",
    "chunk0",
    "chunk1",
    "chshuffle",
    "identity",
    "maxpool2x2",
    "avgpool2x2",
    "upconv2x2",
    "upbilinear",
    "upnearest",
)
#: Blocks and the ops each is made of (adds and concats are structure: identity nodes).
BLOCKS: dict[str, tuple[str, ...]] = {
    "double": ("conv3x3",),
    "basic": ("conv3x3",),
    "bottleneck": ("conv1x1", "conv3x3"),
    "invres": ("conv1x1", "dwconv3x3"),
    "shuffle": ("conv1x1", "dwconv3x3", "chunk0", "chunk1", "chshuffle"),
    "dense": ("conv1x1", "conv3x3"),
}
DOWNS: dict[str, tuple[str, ...]] = {"maxpool": ("maxpool2x2",), "avgpool": ("avgpool2x2",)}
UPS: dict[str, tuple[str, ...]] = {
    "upconv2x2": ("upconv2x2",),
    "upbilinear": ("upbilinear",),
    "upnearest": ("upnearest",),
}
SKIPS: tuple[str, ...] = ("concat", "add", "none")
#: Nodes a block adds at most (a merge node included), for the node-count check.
_BLOCK_NODES = {"double": 2, "basic": 4, "bottleneck": 5, "invres": 5, "shuffle": 8}


@dataclass(frozen=True)
class SkipUNetOptions:
    """skipunet options; the fields are the defaults (about 20k to 4M parameters at 1x64x64)."""

    widths: tuple[tuple[int, ...], ...] = ((16, 24, 32), (32, 48, 64), (64, 96, 128), (128, 192, 256))
    levels: tuple[int, ...] = (2, 4)
    ops: tuple[str, ...] = SPACE_OPS
    blocks: tuple[str, ...] = tuple(BLOCKS)
    skips: tuple[str, ...] = SKIPS
    ups: tuple[str, ...] = tuple(UPS)
    downs: tuple[str, ...] = tuple(DOWNS)
    nested: tuple[bool, ...] = (False, True)
    expansion: int = 4
    dense_layers: int = 2


def _offered(names: Sequence[str], table: dict[str, tuple[str, ...]], ops: Sequence[str]) -> list[str]:
    return [n for n in names if set(table[n]) <= set(ops)]


@register
class SkipUNet(SearchSpace):
    """Encoder-decoders with long skips; see the module docstring for its parameters."""

    name = "skipunet"
    task = "segment"
    default_dataset = "fmnist-seg"
    Options = SkipUNetOptions
    OPTION_RULES: ClassVar[dict[str, str]] = {
        "widths": f"widths must be one non-empty list of widths per level (2 to {MAX_STAGES} levels, MAX_STAGES), "
        f"each an integer from 1 to {MAX_WIDTH} (MAX_WIDTH), e.g. [[16, 32], [32, 64], [64, 128]]",
        "levels": f"levels must be [min, max] levels, integers from 2 to {MAX_STAGES}, e.g. [2, 4]",
        "ops": f"ops must be a non-empty list of op names from: {', '.join(SPACE_OPS)}",
        "blocks": f"blocks must be a non-empty list from: {', '.join(BLOCKS)}",
        "skips": f"skips must be a non-empty list from: {', '.join(SKIPS)}",
        "ups": f"ups must be a non-empty list from: {', '.join(UPS)}",
        "downs": f"downs must be a non-empty list from: {', '.join(DOWNS)}",
        "nested": "nested must be a non-empty list of true and/or false",
        "expansion": "expansion must be an integer from 1 to 16 (the inverted residual's t)",
        "dense_layers": "dense_layers must be an integer from 1 to 16",
    }

    @classmethod
    def options_schema(cls) -> CoreSchema:
        """Each option's type and bounds (`nas.ir.limits`); lists of at most MAX_CHOICES values."""
        from pydantic_core import core_schema as cs

        def option(schema: CoreSchema) -> cs.TypedDictField:
            return cs.typed_dict_field(schema, required=False)

        def integer(lo: int, hi: int) -> CoreSchema:
            return cs.int_schema(strict=True, ge=lo, le=hi)

        def names(values: Sequence[str]) -> CoreSchema:
            return cs.list_schema(cs.literal_schema(list(values)), min_length=1, max_length=MAX_CHOICES)

        widths = cs.list_schema(integer(1, MAX_WIDTH), min_length=1, max_length=MAX_CHOICES)
        return cs.typed_dict_schema(
            {
                "widths": option(cs.list_schema(widths, min_length=2, max_length=MAX_STAGES)),
                "levels": option(cs.list_schema(integer(2, MAX_STAGES), min_length=2, max_length=2)),
                "ops": option(names(SPACE_OPS)),
                "blocks": option(names(tuple(BLOCKS))),
                "skips": option(names(SKIPS)),
                "ups": option(names(tuple(UPS))),
                "downs": option(names(tuple(DOWNS))),
                "nested": option(cs.list_schema(cs.bool_schema(strict=True), min_length=1, max_length=2)),
                "expansion": option(integer(1, 16)),
                "dense_layers": option(integer(1, 16)),
            },
            extra_behavior="forbid",
        )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        o = self.options
        self._blocks = _offered(o.blocks, BLOCKS, o.ops)
        self._ups = _offered(o.ups, UPS, o.ops)
        self._downs = _offered(o.downs, DOWNS, o.ops)

    def check_options(self) -> None:
        """The rules across options (each option alone is checked by `options_schema`)."""
        o = self.options
        bad = SpaceConfigError
        lo, hi = o.levels
        if not lo <= hi:
            raise bad(f"option 'levels' must be [min, max] with 2 <= min <= max, got {list(o.levels)}")
        if hi > len(o.widths):
            raise bad(
                f"option 'levels' allows {hi} levels but 'widths' lists {len(o.widths)}; "
                "give one list of widths per level or lower levels[1]"
            )
        for what, table, names in (("blocks", BLOCKS, o.blocks), ("ups", UPS, o.ups), ("downs", DOWNS, o.downs)):
            if not _offered(names, table, o.ops):
                raise bad(
                    f"no choice of option '{what}' ({', '.join(names)}) is made of ops in option 'ops'; "
                    f"add their ops to 'ops' (e.g. {', '.join(table[names[0]])})"
                )
        if "shuffle" in _offered(o.blocks, BLOCKS, o.ops):
            for k, level in enumerate(o.widths):
                for w in level:
                    if w % 2:
                        raise bad(
                            f"width {w} of level {k} is odd, and the 'shuffle' block splits widths in two; "
                            "use even widths or leave 'shuffle' out of option 'blocks'"
                        )
        per_block = max(_BLOCK_NODES.get(b, 2 * o.dense_layers + 2) for b in o.blocks)
        cells = hi * (hi + 1) // 2 if True in o.nested else 2 * hi
        most = 2 + cells * (per_block + 2)
        if most > MAX_NODES:
            raise bad(
                f"options 'levels' (up to {hi}), 'nested' and 'blocks' allow {most} nodes, more than "
                f"{MAX_NODES} (MAX_NODES); lower levels[1], dense_layers, or leave nested out"
            )

    # ---- sampling ---------------------------------------------------------------------------
    def sample(self, trial: BaseTrial) -> Arch:
        o = self.options

        def pick(name: str, choices: Sequence[Any]) -> Any:
            return choices[0] if len(choices) == 1 else trial.suggest_categorical(name, list(choices))

        lo, hi = o.levels
        levels = trial.suggest_int("levels", lo, hi) if lo < hi else lo
        widths = [pick(f"width_l{k}", o.widths[k]) for k in range(levels)]
        down = pick("down", self._downs)
        up = pick("up", self._ups)
        enc = [pick(f"enc_l{k}", self._blocks) for k in range(levels)]
        dec = [pick(f"dec_l{k}", self._blocks) for k in range(levels - 1)]
        skips = [pick(f"skip_l{k}", o.skips) for k in range(levels - 1)]
        nested = bool(pick("nested", o.nested)) if levels >= 3 else False

        b = Builder()
        x = b.stem("input", widths[0])  # conv3x3-BN-ReLU from the image, whatever its channels
        grid: list[list[int]] = []  # grid[k][j]: level k, column j (column 0 is the encoder)
        for k in range(levels):
            if k:
                x = b.add(f"{down}2x2", x, b.width(x), k)
            x = self._block(b, enc[k], [x], "concat", widths[k])
            grid.append([x])
        cells = _decoder_cells(levels, nested, skips)
        for j in range(1, levels):
            for k in range(levels - 1 - j, -1, -1):
                if (k, j) not in cells:
                    continue
                u = b.add(up, grid[k + 1][j - 1], widths[k], k)
                sources = [grid[k][i] for i in range(j if nested else 1)]
                inputs = [] if skips[k] == "none" else sources
                grid[k].append(self._block(b, dec[k], [*inputs, u], skips[k], widths[k]))
            for k in range(levels - j):
                if len(grid[k]) == j:
                    grid[k].append(-1)  # a cell nothing reads: not built
        out = grid[0][levels - 1]
        b.add("pixels", out, b.width(out))
        return Arch(tuple(b.nodes))

    def _block(self, b: Builder, kind: str, inputs: list[int], merge: str, w: int) -> int:
        """Append block `kind` of width `w` reading `inputs` (merged by `merge` when several)."""
        o = self.options
        if kind == "double":  # the merge feeds the first conv, as U-Net's concat does
            a = b.add("conv3x3", tuple(inputs), w, merge=merge if len(inputs) > 1 else None)
            return b.add("conv3x3", a, w)
        if kind == "dense":
            features = list(inputs) if merge == "concat" else [_merged(b, inputs, merge, w)]
            for _ in range(o.dense_layers):
                features.append(dense_layer(b, features, max(1, w // 4)))
            return b.add("conv1x1", tuple(features), w, merge="concat", act="pre")
        x = _merged(b, inputs, merge, w)
        if kind == "basic":
            return basic_block(b, x, w, 1)
        if kind == "bottleneck":
            return bottleneck(b, x, max(1, w // 4), 1)
        if kind == "invres":
            return inverted_residual(b, x, w, 1, o.expansion)
        # shuffle: the stride-1 unit splits its input, so it must have the unit's width
        if b.width(x) != w:
            x = b.add("conv1x1", x, w)
        return shufflenet_v2_unit(b, x, w, 1)


def _decoder_cells(levels: int, nested: bool, skips: list[str]) -> set[tuple[int, int]]:
    """The decoder cells (level, column) the output reads: all of the U-Net's; of UNet++'s grid,
    those some cell reads (a level whose skip is 'none' reads none of its own row)."""
    if not nested:
        return {(levels - 1 - j, j) for j in range(1, levels)}
    live, todo = set(), [(0, levels - 1)]
    while todo:
        k, j = todo.pop()
        if j == 0 or (k, j) in live:
            continue
        live.add((k, j))
        todo.append((k + 1, j - 1))
        if skips[k] != "none":
            todo += [(k, i) for i in range(1, j)]
    return live


def _merged(b: Builder, inputs: list[int], merge: str, w: int) -> int:
    """One node holding the merge of `inputs`: an identity that concatenates (width: the sum)
    or adds (width `w`, projections where widths differ); the input itself when alone."""
    if len(inputs) == 1:
        return inputs[0]
    width = sum(b.width(i) for i in inputs) if merge == "concat" else w
    return b.add("identity", tuple(inputs), width, merge=merge)
