"""The blocks of `nas.ir.blocks` against hand-written modules (issue 10, part 1), and drawing.

Each block is compiled inside a minimal graph (an 'image' stem, the block, the classifier) and
compared, weight for weight, with the module as torchvision (or the paper's code) writes it: the
feature map entering the classifier in train and eval mode to 1e-6, in float64. Where the IR's
block departs from a reference, the test says how.

Drawing (`nas.viz.draw`): every op kind has a style, and every preset and block draws to DOT, SVG
and PNG.
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from nas.ir import Arch, Node, build, cost, to_source
from nas.ir.blocks import (
    Builder,
    basic_block,
    bottleneck,
    bottleneck_join,
    dense_block,
    dense_layer,
    inverted_residual,
    shufflenet_v1_unit,
    shufflenet_v2_unit,
    transition,
)
from nas.ir.ops import OP_TABLE
from nas.viz import draw as viz
from search_spaces.presets import preset, preset_names
from tests.helpers import assert_same_features, channel_shuffle, randomise_bn, relabel

N = Node
TOL = 1e-6


# ---- the harness (features, assert_same_features, randomise_bn, channel_shuffle: tests/helpers.py)
def assert_block(arch: Arch, ref: nn.Module, shape: tuple[int, int, int]) -> None:
    """arch's features equal ref's in train then eval mode, with ours' weights copied in order."""
    model = build(arch, shape, 10).double()
    randomise_bn(model)
    ref = ref.double()
    src = [v for k, v in model.state_dict().items() if not k.startswith("head.")]
    dst = list(ref.state_dict())
    assert [tuple(v.shape) for v in src] == [tuple(v.shape) for v in ref.state_dict().values()]
    ref.load_state_dict(dict(zip(dst, (v.clone() for v in src), strict=True)))
    n_ref = sum(p.numel() for p in ref.parameters())
    assert (
        sum(p.numel() for p in model.parameters())
        == cost(arch, shape, 10).params
        == n_ref + model.head[2].weight.numel() + 10
    )
    assert_same_features(model, ref, shape, TOL)


def one_block(cin: int, block, *args, **kwargs) -> Arch:
    b = Builder()
    x = b.stem("image", cin)
    return b.output(block(b, x, *args, **kwargs))


# ---- ResNet --------------------------------------------------------------------------------------
class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock (with dilation on both convs, a residual scale and an
    optional ResNet-D shortcut, which torchvision's BasicBlock does not take)."""

    def __init__(self, cin, planes, stride=1, dilation=1, scale=1.0, shortcut="proj"):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, dilation, dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, dilation, dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.scale = scale
        self.downsample = None
        if stride != 1 or cin != planes:
            pool = (
                [nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False)] if shortcut == "avgproj" else []
            )
            conv_stride = 1 if pool else stride
            self.downsample = nn.Sequential(
                *pool, nn.Conv2d(cin, planes, 1, conv_stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out)) * self.scale
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class PreActBlock(nn.Module):
    """ResNet v2's block (He et al. 2016, 'Identity mappings'), identity shortcut."""

    def __init__(self, c):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(c), nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(c), nn.Conv2d(c, c, 3, 1, 1, bias=False)

    def forward(self, x):
        out = self.conv1(F.relu(self.bn1(x)))
        return self.conv2(F.relu(self.bn2(out))) + x


@pytest.mark.parametrize(
    "cin, width, stride, kw",
    [
        (8, 8, 1, {}),
        (8, 16, 2, {}),
        (8, 16, 1, {}),
        (8, 16, 2, {"shortcut": "avgproj"}),
        (8, 8, 1, {"dilation": 2}),
        (8, 8, 1, {"scale": 0.1}),
    ],
)
def test_basic_block(cin, width, stride, kw):
    arch = one_block(cin, basic_block, width, stride, **kw)
    assert_block(arch, BasicBlock(cin, width, stride, **kw), (cin, 7, 7))


def test_basic_block_preact():
    assert_block(one_block(8, basic_block, 8, preact=True), PreActBlock(8), (8, 6, 6))


def test_basic_block_preact_projection_reads_the_raw_input():
    """The IR's pre-activation block projects x itself (conv1x1 + BN), not BN-ReLU(x) as He et al.'s
    'both_preact' first block of a stage does (with a plain conv): the shortcut of an add is 'proj'."""
    arch = one_block(8, basic_block, 16, 2, preact=True)
    model = build(arch, (8, 8, 8))
    assert [type(m).__name__ for m in model.n3_p1] == ["Conv2d", "BatchNorm2d"]


def test_repeated_basic_blocks_with_ties_are_one_block():
    b = Builder()
    x = b.stem("image", 8)
    ties = (b.new_tie(), b.new_tie())
    for _ in range(3):
        x = basic_block(b, x, 8, ties=ties)
    arch = b.output(x)
    block = BasicBlock(8, 8)

    class Thrice(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = block

        def forward(self, x):
            return self.block(self.block(self.block(x)))

    assert_block(arch, Thrice(), (8, 6, 6))


class Bottleneck(nn.Module):
    """torchvision.models.resnet.Bottleneck (v1.5: the stride on the 3x3)."""

    expansion = 4

    def __init__(self, cin, planes, stride=1, groups=1, base_width=64, dilation=1):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, dilation, dilation, groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != planes * self.expansion:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, planes * self.expansion, 1, stride, bias=False), nn.BatchNorm2d(planes * self.expansion)
            )

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


@pytest.mark.parametrize(
    "cin, planes, stride, kw",
    [
        (16, 4, 1, {}),  # no projection
        (8, 4, 1, {}),  # a width change: projection
        (16, 8, 2, {}),
        (16, 8, 2, {"groups": 4, "base_width": 16}),  # ResNeXt: grouped 3x3
        (16, 4, 1, {"groups": 2, "base_width": 32}),
        (16, 4, 1, {"base_width": 128}),  # Wide ResNet
        (16, 4, 1, {"dilation": 2}),
    ],
)
def test_bottleneck(cin, planes, stride, kw):
    arch = one_block(cin, bottleneck, planes, stride, **kw)
    assert_block(arch, Bottleneck(cin, planes, stride, **kw), (cin, 7, 7))
    if kw.get("groups", 1) > 1:
        assert any(n.op == f"gconv3x3_g{kw['groups']}" for n in arch.nodes)


# ---- MobileNetV2 ----------------------------------------------------------------------------------
class InvertedResidual(nn.Module):
    """torchvision.models.mobilenetv2.InvertedResidual (Conv2dNormActivation written out)."""

    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers += [nn.Conv2d(inp, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


@pytest.mark.parametrize(
    "inp, oup, stride, t", [(8, 8, 1, 1), (8, 8, 1, 6), (8, 12, 1, 6), (8, 16, 2, 6), (16, 8, 2, 1)]
)
def test_inverted_residual(inp, oup, stride, t):
    arch = one_block(inp, inverted_residual, oup, stride, t)
    assert_block(arch, InvertedResidual(inp, oup, stride, t), (inp, 7, 7))


# ---- ShuffleNet ----------------------------------------------------------------------------------
class ShuffleV2Unit(nn.Module):
    """torchvision.models.shufflenetv2.InvertedResidual."""

    def __init__(self, inp, oup, stride):
        super().__init__()
        self.stride = stride
        bf = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
                nn.BatchNorm2d(inp),
                nn.Conv2d(inp, bf, 1, bias=False),
                nn.BatchNorm2d(bf),
                nn.ReLU(inplace=True),
            )
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else bf, bf, 1, bias=False),
            nn.BatchNorm2d(bf),
            nn.ReLU(inplace=True),
            nn.Conv2d(bf, bf, 3, stride, 1, groups=bf, bias=False),
            nn.BatchNorm2d(bf),
            nn.Conv2d(bf, bf, 1, bias=False),
            nn.BatchNorm2d(bf),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


@pytest.mark.parametrize("inp, oup, stride", [(8, 8, 1), (16, 16, 1), (8, 16, 2), (12, 24, 2)])
def test_shufflenet_v2_unit(inp, oup, stride):
    arch = one_block(inp, shufflenet_v2_unit, oup, stride)
    assert_block(arch, ShuffleV2Unit(inp, oup, stride), (inp, 7, 7))


class ShuffleV1Unit(nn.Module):
    """The ShuffleNet (v1) unit, as the paper (Zhang et al. 2018, Fig. 2) and jaxony/ShuffleNet write
    it: grouped 1x1-BN-ReLU, shuffle, dw3x3-BN, grouped 1x1-BN, add or concat, ReLU.

    The stride-2 shortcut is PyTorch's default 3x3 average pool (``F.avg_pool2d(x, 3, 2, 1)``: the
    zero padding counts in the mean), as in jaxony and megvii's ShuffleNet-Series code. One
    difference of the IR's unit, written here as the IR does: with a dense first 1x1
    (``first_group=False``) there is no shuffle (jaxony shuffles anyway: a fixed permutation of a
    dense conv's outputs, the same family of functions).
    """

    def __init__(self, cin, width, stride, groups, first_group=True):
        super().__init__()
        self.stride, self.g1 = stride, groups if first_group else 1
        out = width - cin if stride == 2 else width
        mid = width // 4
        self.compress = nn.Sequential(
            nn.Conv2d(cin, mid, 1, groups=self.g1, bias=False), nn.BatchNorm2d(mid), nn.ReLU()
        )
        self.dw = nn.Sequential(nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid))
        self.expand = nn.Sequential(nn.Conv2d(mid, out, 1, groups=groups, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        out = self.compress(x)
        if self.g1 > 1:
            out = channel_shuffle(out, self.g1)
        out = self.expand(self.dw(out))
        if self.stride == 2:
            return F.relu(torch.cat((F.avg_pool2d(x, 3, 2, 1), out), 1))
        return F.relu(x + out)


@pytest.mark.parametrize(
    "cin, width, stride, groups, first_group",
    [(16, 16, 1, 2, True), (16, 32, 2, 2, True), (24, 48, 2, 3, True), (16, 32, 2, 4, False), (32, 32, 1, 4, True)],
)
def test_shufflenet_v1_unit(cin, width, stride, groups, first_group):
    arch = one_block(cin, shufflenet_v1_unit, width, stride, groups, first_group)
    assert_block(arch, ShuffleV1Unit(cin, width, stride, groups, first_group), (cin, 7, 7))


# ---- DenseNet -------------------------------------------------------------------------------------
class DenseLayer(nn.Module):
    """torchvision.models.densenet._DenseLayer (drop_rate 0)."""

    def __init__(self, num_input_features, growth_rate, bn_size):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, 1, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, 1, 1, bias=False)

    def forward(self, inputs):
        concated = torch.cat(inputs, 1)
        bottleneck_output = self.conv1(self.relu1(self.norm1(concated)))
        return self.conv2(self.relu2(self.norm2(bottleneck_output)))


class DenseBlockTransition(nn.Module):
    """torchvision's _DenseBlock followed by its _Transition (norm, relu, 1x1 conv, 2x2 avg pool)."""

    def __init__(self, cin, layers, growth, bn_size, out):
        super().__init__()
        self.layers = nn.ModuleList(DenseLayer(cin + k * growth, growth, bn_size) for k in range(layers))
        c = cin + layers * growth
        self.norm, self.conv = nn.BatchNorm2d(c), nn.Conv2d(c, out, 1, 1, bias=False)

    def forward(self, x):
        features = [x]
        for layer in self.layers:
            features.append(layer(features))
        return F.avg_pool2d(self.conv(F.relu(self.norm(torch.cat(features, 1)))), 2, 2)


@pytest.mark.parametrize("layers, growth, bn_size", [(1, 4, 2), (3, 4, 2), (2, 8, 4)])
def test_dense_block_and_transition(layers, growth, bn_size):
    b = Builder()
    x = b.stem("image", 8)
    features = dense_block(b, x, layers, growth, bn_size)
    out = (8 + layers * growth) // 2
    arch = b.output(transition(b, features, out))
    assert_block(arch, DenseBlockTransition(8, layers, growth, bn_size, out), (8, 8, 8))


def test_dense_layer_reads_its_features_in_order():
    b = Builder()
    x = b.stem("image", 6)
    y = b.add("conv1x1", x, 4)
    new = dense_layer(b, [x, y], 4, 2)
    assert b.nodes[new - 1].inputs == (x, y) and b.nodes[new - 1].merge == "concat"


def test_bottleneck_join():
    """The seeds' join: concat, then a 1x1 conv-BN-ReLU back to the first input's width."""
    b = Builder()
    x = b.stem("image", 8)
    y = b.add("conv3x3", x, 8, act="linear")
    arch = b.output(bottleneck_join(b, [x, y]))
    conv_y, bn_y = nn.Conv2d(8, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8)
    conv, bn = nn.Conv2d(16, 8, 1, bias=False), nn.BatchNorm2d(8)

    class Join(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_y, self.bn_y, self.conv, self.bn = conv_y, bn_y, conv, bn

        def forward(self, x):
            return F.relu(self.bn(self.conv(torch.cat((x, self.bn_y(self.conv_y(x))), 1))))

    assert_block(arch, Join(), (8, 6, 6))
    assert b.nodes[-2].width == 8


# ---- blocks are ordinary graphs ------------------------------------------------------------------
def all_blocks() -> Arch:
    """One network with every block, a tie, a 'none' branch and the new attributes."""
    b = Builder()
    x = b.stem("image", 3)
    x = b.add("conv7x7", x, 16, 1)
    x = b.add("maxpool3x3", x, 16, 2)
    ties = (b.new_tie(), b.new_tie())
    x = basic_block(b, x, 16, ties=ties, zero_init=True)
    x = basic_block(b, x, 16, ties=ties, zero_init=True)
    x = basic_block(b, x, 32, 2, shortcut="avgproj", scale=0.2, dilation=2)
    x = basic_block(b, x, 32, preact=True)
    x = bottleneck(b, x, 8, groups=2)
    x = inverted_residual(b, x, 32, 1, 6)
    x = shufflenet_v2_unit(b, x, 32, 1)
    x = shufflenet_v1_unit(b, x, 32, 1, 2)
    features = dense_block(b, x, 2, 8, 2)
    x = bottleneck_join(b, features, 32)
    n = b.add("none", x, 32)
    x = b.add("identity", (x, n), 32, merge="add", act="relu6")
    x = transition(b, [x], 32)
    return b.output(x, dropout=0.2)


def test_a_network_of_blocks_is_an_ordinary_arch():
    arch = all_blocks()
    assert Arch.from_json(arch.to_json()).hash() == arch.hash()
    assert relabel(arch, random.Random(0)).hash() == arch.hash()
    model = build(arch, (3, 32, 32))
    assert sum(p.numel() for p in model.parameters()) == cost(arch, (3, 32, 32)).params
    namespace: dict = {}
    exec(compile(to_source(arch, (3, 32, 32)), "<export>", "exec"), namespace)
    exported = namespace["Net"]()
    exported.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    exported.eval()
    with torch.no_grad():
        assert torch.equal(model(x), exported(x))


# ---- drawing -------------------------------------------------------------------------------------
def test_every_op_kind_has_a_drawing_style():
    kinds = {kind for kind, _, _ in OP_TABLE.values()}
    assert kinds <= set(viz.KIND_STYLE), kinds - set(viz.KIND_STYLE)
    styles = [(c, s) for c, s, _, _ in viz.KIND_STYLE.values()]
    special = ("depthwise", "chshuffle", "split", "none", "image")
    assert len({viz.KIND_STYLE[k][:2] for k in special}) == len(special)  # each its own look
    assert len(set(styles)) >= len(styles) - 3  # input/image and output/pixels may look alike


def test_labels_show_the_attributes_compactly():
    arch = all_blocks()
    texts = [viz.attr_text(arch, i) for i in range(len(arch.nodes))]
    assert "lin 0init tie2" in texts  # the tied, zero-initialised second conv of the basic blocks
    assert any("×0.2" in t and "lin" in t for t in texts)
    assert any(t.startswith("relu avgproj") for t in texts)  # the strided block's add
    assert "drop 0.2" in texts and "relu6" in texts and "pre" in texts
    assert all(len(t) <= 30 for t in texts)
    dot = viz.to_dot(arch)
    assert "image\\n3 ch" in dot and "n1: conv7x7\\n16" in dot
    assert 'style="filled,dashed"' in dot  # the 'none' node
    assert viz.compact_summary(arch.summary()).startswith("g3 dw3 sh2 ")  # depthwise convs and channel shuffles count


def _check_drawings(arch: Arch, tmp_path, name: str, formats=("dot", "svg", "png")) -> None:
    for fmt in formats:
        path = tmp_path / f"{name}.{fmt}"
        assert viz.draw(arch, path, title=name) == fmt
        data = path.read_bytes()
        if fmt == "png":
            assert data.startswith(b"\x89PNG\r\n\x1a\n")
        elif fmt == "svg":
            assert ET.fromstring(data).tag.endswith("svg")
        else:
            text = data.decode()
            assert text.startswith("digraph arch {") and text.count("{") == text.count("}")
            assert all(f"  n{i} -> " in text or f" -> n{i} " in text for i in range(len(arch.nodes)))


def test_blocks_draw_in_every_format(tmp_path):
    _check_drawings(all_blocks(), tmp_path, "all_blocks")
    _check_drawings(preset("resnet18", (3, 32, 32), stem="small"), tmp_path, "resnet18")


@pytest.mark.parametrize("stem", ["small", "imagenet"])
def test_every_preset_draws_to_dot(stem):
    for name in preset_names():
        arch = preset(name, (3, 64, 64), stem=stem)
        dot = viz.to_dot(arch, title=name)
        assert dot.count(" [label=") >= len(arch.nodes)


@pytest.mark.parametrize(
    "name",
    # densenet121 (~120 layers) is a ~17000-pixel-wide PNG (~4 s): slow
    [pytest.param(n, marks=pytest.mark.slow) if n == "densenet121" else n for n in preset_names()],
)
def test_every_preset_draws_to_svg_and_png(name, tmp_path):
    _check_drawings(preset(name, (3, 64, 64), stem="small"), tmp_path, name, ("svg", "png"))
