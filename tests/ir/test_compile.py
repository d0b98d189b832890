"""The compiler: the exported source equals the built module; a hand-written ResNet as oracle."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import search_spaces
from nas.ir import Arch, Node, build, cost, to_source
from tests.helpers import sample_archs


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_to_source_in_a_fresh_namespace_equals_build(shape):
    for arch in sample_archs(search_spaces.get("skipdag"), 25, seed=5):
        model = build(arch, shape, 10).eval()
        namespace: dict = {}
        exec(compile(to_source(arch, shape, 10), "<standalone>", "exec"), namespace)
        standalone = namespace["Net"]().eval()
        standalone.load_state_dict(model.state_dict(), strict=True)
        x = torch.randn(3, *shape)
        with torch.no_grad():
            assert torch.equal(model(x), standalone(x))


def test_source_imports_only_torch():
    arch = sample_archs(search_spaces.get("skipdag"), 1)[0]
    imports = [ln for ln in to_source(arch).splitlines() if ln.startswith(("import", "from"))]
    assert imports == ["import torch", "import torch.nn as nn", "import torch.nn.functional as F"]


# ---- oracle: a hand-written ResNet -----------------------------------------------------------
class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.short(x))


class ResNet(nn.Module):
    def __init__(self, cin, widths, blocks, classes):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(cin, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers, prev = [], widths[0]
        for s, (w, b) in enumerate(zip(widths, blocks, strict=False)):
            for k in range(b):
                layers.append(BasicBlock(prev, w, 2 if (s > 0 and k == 0) else 1))
                prev = w
        self.layers = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(prev, classes))

    def forward(self, x):
        return self.head(self.layers(self.stem(x)))


def resnet_arch(widths, blocks):
    """The skipdag Arch of ResNet: conv3x3, conv3x3, then an add with the block input."""
    nodes = [Node("input", (), None, 0, widths[0])]
    prev = 0
    for s, (w, b) in enumerate(zip(widths, blocks, strict=False)):
        for _ in range(b):
            nodes.append(Node("conv3x3", (prev,), None, s, w))
            nodes.append(Node("conv3x3", (len(nodes) - 1,), None, s, w))
            nodes.append(Node("identity", (len(nodes) - 1, prev), "add", s, w))
            prev = len(nodes) - 1
    nodes.append(Node("output", (prev,), None, len(widths) - 1, widths[-1]))
    return Arch(tuple(nodes))


@pytest.mark.parametrize("widths, blocks", [((16, 32, 64), (1, 1, 1)), ((16, 32, 64), (2, 2, 2)), ((32, 64), (2, 1))])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_compiled_resnet_matches_hand_written(widths, blocks, shape):
    arch = resnet_arch(widths, blocks)
    ours, ref = build(arch, shape, 10), ResNet(shape[0], widths, blocks, 10)
    n_ours, n_ref = (sum(p.numel() for p in m.parameters()) for m in (ours, ref))
    assert n_ours == n_ref == cost(arch, shape, 10).params
    # the same layers: the multiset of parameter shapes matches
    assert sorted(tuple(p.shape) for p in ours.parameters()) == sorted(tuple(p.shape) for p in ref.parameters())
    # the same feature-map shapes at every stage output and at the logits
    x = torch.randn(2, *shape)
    assert ours(x).shape == ref(x).shape == (2, 10)
    feats_ours, feats_ref = [], []
    for m in ours.modules():
        if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3):
            m.register_forward_hook(lambda mod, i, o: feats_ours.append(tuple(o.shape)))
    for m in ref.modules():
        if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3):
            m.register_forward_hook(lambda mod, i, o: feats_ref.append(tuple(o.shape)))
    ours(x), ref(x)
    assert feats_ours == feats_ref


def test_flops_count_convolutions_at_their_output_resolution():
    arch = Arch((Node("input", (), None, 0, 8), Node("conv3x3", (0,), None, 1, 16), Node("output", (1,), None, 1, 16)))
    c = cost(arch, (1, 28, 28), 10)
    stem = 28 * 28 * 1 * 8 * 9
    conv = 14 * 14 * 8 * 16 * 9
    assert c.flops == stem + conv + 16 * 10
    assert c.params == 1 * 8 * 9 + 16 + 8 * 16 * 9 + 32 + 16 * 10 + 10


def test_bad_build_arguments_are_clear():
    arch = resnet_arch((16,), (1,))
    with pytest.raises(ValueError, match="input_shape must be"):
        build(arch, (28, 28), 10)
    with pytest.raises(ValueError, match="num_classes must be"):
        cost(arch, (1, 28, 28), 0)
