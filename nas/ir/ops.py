"""The operation vocabulary of an architecture graph (pure data, no torch).

An op name is a base name from `OP_TABLE`, plus `_g<G>` for the grouped ones
(`gconv3x3_g4`, `shuffle3x3_g2`, `chshuffle_g2`). The compiler decides how each kind becomes layers;
this module only says what the names mean.
"""

from __future__ import annotations

from dataclasses import dataclass

from nas.ir.limits import MAX_OP_NAME, MAX_WIDTH

# base name     kind         kernel  grouped   what it is (with the default activation placement)
OP_TABLE: dict[str, tuple[str, int, bool]] = {
    "conv3x3": ("conv", 3, False),  # standard conv-BN-ReLU
    "conv5x5": ("conv", 5, False),
    "conv7x7": ("conv", 7, False),  # the ImageNet stem's conv
    "conv1x1": ("pointwise", 1, False),  # 1x1 conv-BN-ReLU
    "gconv1x1": ("grouped", 1, True),  # pointwise group conv-BN-ReLU (ShuffleNet v1)
    "gconv3x3": ("grouped", 3, True),  # grouped conv-BN-ReLU (ResNeXt: groups = cardinality)
    "shuffle3x3": ("shuffle", 3, True),  # grouped conv-BN-ReLU then channel shuffle (ShuffleNet)
    "dwconv3x3": ("depthwise", 3, False),  # depthwise conv-BN-ReLU (groups = channels)
    "dwconv5x5": ("depthwise", 5, False),
    "sepconv3x3": ("sepconv", 3, False),  # depthwise kxk-BN-ReLU then 1x1-BN-ReLU
    "sepconv5x5": ("sepconv", 5, False),
    "chshuffle": ("chshuffle", 1, True),  # channel shuffle alone, no weights (ShuffleNet v2)
    "chunk0": ("split", 1, False),  # the first half of the channels (ShuffleNet v2's split)
    "chunk1": ("split", 1, False),  # the second half
    "maxpool3x3": ("maxpool", 3, False),  # pools keep width; a 1x1 projection follows if needed
    "avgpool3x3": ("avgpool", 3, False),  # the mean of the window's pixels (padding left out; DARTS)
    "avgpad3x3": ("avgpool", 3, False),  # the mean over all 9, zero padding counted (PyTorch's default; ShuffleNet v1)
    "maxpool2x2": ("maxpool", 2, False),  # 2x2 windows, no padding (DenseNet's transition pool)
    "avgpool2x2": ("avgpool", 2, False),
    "identity": ("identity", 1, False),  # a 1x1 projection only where width/resolution change
    "none": ("none", 1, False),  # an absent node: merges skip it (DARTS' 'none' edge)
    "input": ("input", 3, False),  # the stem: conv3x3-BN-ReLU from the image channels
    "image": ("image", 1, False),  # the image itself (width = its channels); stems are nodes
    "upconv2x2": ("upconv", 2, False),  # transposed conv 2x2, stride 2: one stage up (U-Net)
    "upbilinear": ("upsample", 3, False),  # bilinear x2 resize, then conv3x3-BN-ReLU: one stage up
    "upnearest": ("upsample", 3, False),  # nearest x2 resize, then conv3x3-BN-ReLU
    "output": ("output", 1, False),  # merge, then global pool, dropout and the linear classifier
    "pixels": ("pixels", 1, False),  # merge, then a 1x1 conv to the classes per pixel (dense output)
}

#: The op kinds a search space can choose from (everything but the graph's terminals).
OP_KINDS: tuple[str, ...] = (
    "conv",
    "pointwise",
    "grouped",
    "shuffle",
    "depthwise",
    "sepconv",
    "chshuffle",
    "split",
    "maxpool",
    "avgpool",
    "identity",
    "none",
    "upconv",
    "upsample",
)

#: Kinds with convolution weights: their default activation placement is 'post'
#: (conv-BN-ReLU); the others (pools, identity, shuffle, split) default to 'linear'.
WEIGHTED_KINDS = frozenset({"conv", "pointwise", "grouped", "shuffle", "depthwise", "sepconv", "upconv", "upsample"})
#: Kinds that go one stage up (double the resolution): a decoder's up-sampling.
UP_KINDS = frozenset({"upconv", "upsample"})
#: Where the activation goes. 'post': conv-BN-ReLU (ResNet v1); 'relu6': conv-BN-ReLU6
#: (MobileNetV2); 'linear': conv-BN, no activation (bottleneck projections); 'pre': BN-ReLU-conv
#: (ResNet v2, DenseNet). For an op without weights: 'post'/'relu6' add the activation after it,
#: 'pre' puts BN-ReLU before it.
ACTS: tuple[str, ...] = ("post", "pre", "linear", "relu6")
#: Terminal kinds: one stem ('input' or 'image') and one output ('output': a classifier, or
#: 'pixels': a per-pixel classifier) per graph.
STEM_KINDS = frozenset({"input", "image"})
OUTPUT_KINDS = frozenset({"output", "pixels"})
#: Op names of the two output nodes (their kinds are their names).
OUTPUTS = ("output", "pixels")


def default_act(kind: str) -> str:
    """The activation placement an op kind has when a node names none."""
    if kind == "upconv":
        return "linear"  # U-Net's plain ConvTranspose2d, with bias
    return "post" if kind in WEIGHTED_KINDS or kind == "input" else "linear"


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
        return self.kind in ("grouped", "shuffle", "chshuffle")

    @property
    def weighted(self) -> bool:
        """Whether the op has convolution weights (tie, zero_init and dilation apply)."""
        return self.kind in WEIGHTED_KINDS


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
