"""The operation vocabulary of an architecture graph (pure data, no torch).

An op name is a base name from `OP_TABLE`, plus `_g<G>` for the grouped ones
(`gconv3x3_g4`, `shuffle3x3_g2`). The compiler decides how each kind becomes layers;
this module only says what the names mean.
"""

from __future__ import annotations

from dataclasses import dataclass

from nas.ir.limits import MAX_OP_NAME, MAX_WIDTH

# base name     kind         kernel  grouped   what it is
OP_TABLE: dict[str, tuple[str, int, bool]] = {
    "conv3x3": ("conv", 3, False),  # standard conv-BN-ReLU
    "conv5x5": ("conv", 5, False),
    "conv1x1": ("pointwise", 1, False),  # 1x1 conv-BN-ReLU
    "gconv3x3": ("grouped", 3, True),  # grouped conv-BN-ReLU
    "shuffle3x3": ("shuffle", 3, True),  # grouped conv-BN-ReLU then channel shuffle (ShuffleNet)
    "sepconv3x3": ("sepconv", 3, False),  # depthwise kxk-BN-ReLU then 1x1-BN-ReLU
    "sepconv5x5": ("sepconv", 5, False),
    "maxpool3x3": ("maxpool", 3, False),  # pools keep width; a 1x1 projection follows if needed
    "avgpool3x3": ("avgpool", 3, False),
    "identity": ("identity", 1, False),  # a 1x1 projection only where width/resolution change
    "input": ("input", 3, False),  # the stem: conv3x3-BN-ReLU from the image channels
    "output": ("output", 1, False),  # merge, then global pool and the linear classifier
}

#: The op kinds a search space can choose from (everything but the graph's two terminals).
OP_KINDS: tuple[str, ...] = (
    "conv",
    "pointwise",
    "grouped",
    "shuffle",
    "sepconv",
    "maxpool",
    "avgpool",
    "identity",
)


@dataclass(frozen=True)
class OpSpec:
    """What an op name means: `kind`, `kernel` size and `groups` (1 when not grouped)."""

    name: str
    base: str
    kind: str
    kernel: int
    groups: int

    @property
    def grouped(self) -> bool:
        return self.kind in ("grouped", "shuffle")


def parse_op(name: str) -> OpSpec:
    """Parse an op name such as ``conv3x3`` or ``gconv3x3_g4``.

    Raises:
        ValueError: unknown base name, or a group suffix missing/present where it must not be.
    """
    if not isinstance(name, str):
        raise ValueError(f"op must be a string, got {name!r}")
    if len(name) > MAX_OP_NAME:
        raise ValueError(f"op name of {len(name)} characters, more than {MAX_OP_NAME} (MAX_OP_NAME): {name[:20]!r}...")
    base, sep, suffix = name.partition("_g")
    if base not in OP_TABLE:
        raise ValueError(f"unknown op {name!r}; known ops: {', '.join(op_bases())}")
    kind, kernel, grouped = OP_TABLE[base]
    if grouped:
        if not sep or not (suffix.isascii() and suffix.isdigit()) or int(suffix) < 1:
            raise ValueError(f"op {name!r} needs a group count, e.g. {base}_g4")
        if int(suffix) > MAX_WIDTH:  # the suffix is at most MAX_OP_NAME characters: int() is safe
            raise ValueError(f"op {name!r}: {suffix} groups, more than MAX_WIDTH = {MAX_WIDTH} channels")
        return OpSpec(name, base, kind, kernel, int(suffix))
    if sep:
        raise ValueError(f"op {name!r}: {base} takes no group suffix")
    return OpSpec(name, base, kind, kernel, 1)


def op_bases(include_terminals: bool = False) -> list[str]:
    """Base op names, in table order."""
    return [b for b, (k, _, _) in OP_TABLE.items() if include_terminals or k in OP_KINDS]


def op_name(base: str, groups: int = 1) -> str:
    """The full op name for a base op and a group count."""
    return f"{base}_g{groups}" if OP_TABLE[base][2] else base
