"""Blocks: the classic building blocks as reusable subgraphs of the IR (pure data, no torch).

A block is a function that appends nodes to a `Builder` and returns the index of its output
node, so a network written with blocks is an ordinary `Arch`: canonical hash, dedupe, compile,
`to_source`, drawing and export work on it unchanged. Each block states the reference it
follows; `search_spaces.presets` assembles torchvision's networks from them, and tests compare
those with torchvision's modules weight for weight.

Resolution follows the IR's stage rule: a node one stage later than its input strides by 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nas.ir.arch import Arch
from nas.ir.graph import Node

__all__ = [
    "Builder",
    "basic_block",
    "bottleneck",
    "bottleneck_join",
    "dense_block",
    "dense_layer",
    "inverted_residual",
    "shufflenet_v1_unit",
    "shufflenet_v2_unit",
    "transition",
]


@dataclass
class Builder:
    """Appends nodes; every method returns the new node's index."""

    nodes: list[Node] = field(default_factory=list)
    _ties: int = 0

    def add(
        self,
        op: str,
        inputs: int | tuple[int, ...] | list[int],
        width: int,
        stage: int | None = None,
        merge: str | None = None,
        **attrs: Any,
    ) -> int:
        """A node reading `inputs` (an index or several), at `stage` (default: the latest input's)."""
        ins = (inputs,) if isinstance(inputs, int) else tuple(inputs)
        if stage is None:
            stage = max((self.nodes[j].stage for j in ins), default=0)
        if len(ins) > 1 and merge is None:
            merge = "add"
        self.nodes.append(Node(op, ins, merge if len(ins) > 1 else None, stage, width, **attrs))
        return len(self.nodes) - 1

    def stem(self, op: str, width: int) -> int:
        """The stem: 'input' (conv3x3-BN-ReLU from the image) or 'image' (width = image channels)."""
        self.nodes.append(Node(op, (), None, 0, width))
        return len(self.nodes) - 1

    def new_tie(self) -> int:
        """A fresh tie number: nodes given it share one set of weights."""
        self._ties += 1
        return self._ties

    def width(self, i: int) -> int:
        return self.nodes[i].width

    def stage(self, i: int) -> int:
        return self.nodes[i].stage

    def output(self, x: int, dropout: float = 0.0) -> Arch:
        """Close the graph with the classifier node and return the `Arch`."""
        self.add("output", x, self.width(x), dropout=dropout)
        return Arch(tuple(self.nodes))


def _next(b: Builder, x: int, stride: int) -> int:
    return b.stage(x) + (1 if stride == 2 else 0)


def basic_block(
    b: Builder,
    x: int,
    width: int,
    stride: int = 1,
    *,
    dilation: int = 1,
    scale: float = 1.0,
    zero_init: bool = False,
    preact: bool = False,
    shortcut: str = "proj",
    ties: tuple[int, int] = (0, 0),
) -> int:
    """ResNet's BasicBlock (torchvision): conv3x3-BN-ReLU, conv3x3-BN, add, ReLU.

    `preact`: ResNet v2's BN-ReLU-conv twice and no ReLU after the add. `scale` a gives
    Y = X + a*F(X); `zero_init` starts F's last BN at zero; the shortcut projects (1x1, stride)
    when the shape changes, or average-pools first with `shortcut='avgproj'` (ResNet-D).
    `ties`: tie numbers for the two convs (`Builder.new_tie`), to share them with another
    block of the same shape.
    """
    s = _next(b, x, stride)
    act = "pre" if preact else None
    a = b.add("conv3x3", x, width, s, act=act, dilation=dilation, tie=ties[0])
    f = b.add(
        "conv3x3",
        a,
        width,
        act="pre" if preact else "linear",
        dilation=dilation,
        scale=scale,
        zero_init=zero_init,
        tie=ties[1],
    )
    return b.add("identity", (f, x), width, merge="add", act=None if preact else "post", shortcut=shortcut)


def bottleneck(
    b: Builder,
    x: int,
    planes: int,
    stride: int = 1,
    *,
    groups: int = 1,
    base_width: int = 64,
    expansion: int = 4,
    dilation: int = 1,
    scale: float = 1.0,
    zero_init: bool = False,
    shortcut: str = "proj",
) -> int:
    """ResNet's Bottleneck as torchvision writes it (v1.5: the stride on the 3x3):
    conv1x1-BN-ReLU, conv3x3-BN-ReLU (grouped for ResNeXt), conv1x1-BN, add, ReLU.

    The inner width is ``int(planes * base_width / 64) * groups`` (ResNeXt's cardinality
    `groups`, Wide ResNet's doubled `base_width`), the output ``planes * expansion``.
    """
    inner = int(planes * (base_width / 64.0)) * groups
    s = _next(b, x, stride)
    a = b.add("conv1x1", x, inner)
    mid = f"gconv3x3_g{groups}" if groups > 1 else "conv3x3"
    m = b.add(mid, a, inner, s, dilation=dilation)
    f = b.add("conv1x1", m, planes * expansion, act="linear", scale=scale, zero_init=zero_init)
    return b.add("identity", (f, x), planes * expansion, merge="add", act="post", shortcut=shortcut)


def inverted_residual(b: Builder, x: int, width: int, stride: int, expand_ratio: int) -> int:
    """MobileNetV2's inverted residual (torchvision): [1x1 expand-BN-ReLU6,] depthwise
    3x3-BN-ReLU6, 1x1 project-BN (linear); an add (no activation) when stride 1 and the width
    is kept."""
    cin = b.width(x)
    hidden = round(cin * expand_ratio)
    h = b.add("conv1x1", x, hidden, act="relu6") if expand_ratio != 1 else x
    d = b.add("dwconv3x3", h, hidden, _next(b, x, stride), act="relu6")
    p = b.add("conv1x1", d, width, act="linear")
    if stride == 1 and cin == width:
        return b.add("identity", (p, x), width, merge="add")
    return p


def shufflenet_v2_unit(b: Builder, x: int, width: int, stride: int) -> int:
    """ShuffleNetV2's unit (torchvision's InvertedResidual): stride 1 splits the channels, keeps
    one half and runs the other through 1x1-BN-ReLU, dw3x3-BN, 1x1-BN-ReLU; stride 2 runs two
    branches on the whole input (dw3x3-BN, 1x1-BN-ReLU and the three-layer one). Then
    concat [left, right] and a channel shuffle with 2 groups."""
    half = width // 2
    if stride == 1:
        left = b.add("chunk0", x, b.width(x) // 2)
        inp = b.add("chunk1", x, b.width(x) // 2)
    else:
        s = _next(b, x, stride)
        d = b.add("dwconv3x3", x, b.width(x), s, act="linear")
        left = b.add("conv1x1", d, half)
        inp = x
    s = _next(b, x, stride)
    r = b.add("conv1x1", inp, half, b.stage(inp))
    r = b.add("dwconv3x3", r, half, s, act="linear")
    r = b.add("conv1x1", r, half)
    return b.add("chshuffle_g2", (left, r), width, merge="concat")


def shufflenet_v1_unit(b: Builder, x: int, width: int, stride: int, groups: int, first_group: bool = True) -> int:
    """ShuffleNet (v1) unit (Zhang et al. 2018): grouped 1x1-BN-ReLU, channel shuffle, dw3x3-BN,
    grouped 1x1-BN; stride 1: add, ReLU; stride 2: concat with a 3x3 average pool of the input
    (zero padding counted, as the paper's code and PyTorch's default: `avgpad3x3`), ReLU (the
    unit's output then has `width` channels, the residual branch width - input).
    `first_group=False` makes the first 1x1 dense (the paper's first stage)."""
    cin = b.width(x)
    out = width - cin if stride == 2 else width
    mid = width // 4
    g1 = groups if first_group else 1
    a = b.add(f"gconv1x1_g{g1}" if g1 > 1 else "conv1x1", x, mid)
    a = b.add(f"chshuffle_g{g1}", a, mid) if g1 > 1 else a
    d = b.add("dwconv3x3", a, mid, _next(b, x, stride), act="linear")
    f = b.add(f"gconv1x1_g{groups}", d, out, act="linear")
    if stride == 2:
        pool = b.add("avgpad3x3", x, cin, b.stage(d))
        return b.add("identity", (pool, f), width, merge="concat", act="post")
    return b.add("identity", (f, x), width, merge="add", act="post")


def dense_layer(b: Builder, features: list[int], growth: int, bn_size: int = 4) -> int:
    """DenseNet's dense layer (torchvision): concat of all earlier features, BN-ReLU-conv1x1
    (bn_size x growth), BN-ReLU-conv3x3 (growth)."""
    a = b.add("conv1x1", tuple(features), bn_size * growth, merge="concat", act="pre")
    return b.add("conv3x3", a, growth, act="pre")


def dense_block(b: Builder, x: int, layers: int, growth: int, bn_size: int = 4) -> list[int]:
    """`layers` dense layers; returns the feature list [x, new_1, ..., new_n] (concat order)."""
    features = [x]
    for _ in range(layers):
        features.append(dense_layer(b, features, growth, bn_size))
    return features


def transition(b: Builder, features: list[int], width: int) -> int:
    """DenseNet's transition: concat, BN-ReLU-conv1x1 (width), 2x2 average pool, stride 2."""
    c = b.add("conv1x1", tuple(features), width, merge="concat", act="pre")
    return b.add("avgpool2x2", c, width, b.stage(c) + 1)


def bottleneck_join(b: Builder, inputs: list[int], width: int | None = None) -> int:
    """The seeds' bottleneck join: concat the inputs, then a 1x1 conv-BN-ReLU that restores the
    width (by default the first input's)."""
    return b.add("conv1x1", tuple(inputs), width or b.width(inputs[0]), merge="concat")
