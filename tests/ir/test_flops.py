"""Parameters and FLOPs of `nas.ir.cost` against torch (issue 10, part 5).

The relation, checked exactly here:

- ``cost(...).flops`` counts multiply-accumulates (MACs) per image, as NAS papers report "FLOPs":
  every convolution (grouped, depthwise, dilated, transposed) at its output resolution and the
  classifier's Linear (or the per-pixel 1x1 conv), bias additions not included;
- `torch.utils.flop_counter.FlopCounterMode` counts 2 FLOPs per MAC for the same operations
  (``aten.convolution``, ``aten.addmm``/``aten.mm``) and nothing for BatchNorm, activations,
  pools, interpolation, adds, concatenation, channel shuffle or chunk;

so ``2 * cost.flops`` equals the counter's total for a batch of one. Parameters:
``cost.params == sum(p.numel() for p in model.parameters())`` (torch lists a tied module's
parameters once, as `cost` counts them).

Models are built on the meta device (shapes only, no arithmetic), so even wide_resnet50_2 at
224x224 is counted in milliseconds; one test checks that a CPU build counts the same.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from nas.ir import OP_TABLE, Arch, Node, build, cost
from nas.ir.blocks import Builder, basic_block
from search_spaces.presets import preset, preset_names
from tests.ir.test_canonical_v2 import random_archs

N = Node
#: What the counter may count in our networks: convolutions and the classifier's matmul.
COUNTED = {"aten.convolution", "aten.addmm", "aten.mm"}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small models: one thread is faster than two that wait on each other on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def counted(arch: Arch, shape: tuple[int, int, int], classes: int = 10, device: str = "meta") -> tuple[int, int, set]:
    """(parameters, FLOPs per image, the ops counted) of arch's compiled module, from torch."""
    with torch.device(device):
        model = build(arch, shape, classes)
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, *shape, device=device))
    ops = {str(k) for k in counter.get_flop_counts()["Global"]}
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops(), ops


def assert_cost_is_torchs(arch: Arch, shape: tuple[int, int, int], classes: int = 10) -> None:
    params, flops, ops = counted(arch, shape, classes)
    c = cost(arch, shape, classes)
    assert ops <= COUNTED, ops
    assert c.params == params
    assert 2 * c.flops == flops, (c.flops, flops / 2)


def net(cin: int, *nodes: Node, out: dict | None = None) -> Arch:
    last = nodes[-1]
    o = {"op": "output", "inputs": (len(nodes),), "merge": None, "stage": last.stage, "width": last.width} | (out or {})
    return Arch((N("image", (), None, 0, cin), *nodes, N(**o)))


# ---- every op ------------------------------------------------------------------------------------
def _op_cases():
    """(id, arch, input shape) covering every op of OP_TABLE, with strides, width changes and
    activation placements where the op takes them."""
    weighted = ["conv3x3", "conv5x5", "conv7x7", "conv1x1", "gconv3x3_g2", "gconv1x1_g4", "shuffle3x3_g2"]
    weighted += ["sepconv3x3", "sepconv5x5"]
    for op in weighted:
        for stage in (0, 1):
            for act in ("post", "pre", "linear"):
                yield f"{op}-s{stage}-{act}", net(8, N(op, (0,), None, stage, 12, act=act)), (8, 9, 9)
    for op in ("dwconv3x3", "dwconv5x5"):
        for stage in (0, 1, 2):
            yield f"{op}-s{stage}", net(8, N(op, (0,), None, stage, 8, act="pre" if stage else None)), (8, 9, 9)
    for op in ("maxpool3x3", "avgpool3x3", "avgpad3x3", "identity"):
        for stage in (0, 1):
            for width in (8, 12):
                for act in ("linear", "pre"):
                    yield f"{op}-s{stage}-w{width}-{act}", net(8, N(op, (0,), None, stage, width, act=act)), (8, 9, 9)
    for op in ("maxpool2x2", "avgpool2x2"):
        for width in (8, 12):
            yield f"{op}-w{width}", net(8, N(op, (0,), None, 1, width)), (8, 9, 9)
    for op, width in (("chshuffle_g2", 8), ("chshuffle_g4", 8), ("chunk0", 4), ("chunk1", 4)):
        yield op, net(8, N(op, (0,), None, 0, width, act="pre")), (8, 9, 9)
    yield "input stem", Arch((N("input", (), None, 0, 16), N("output", (0,), None, 0, 16))), (3, 9, 9)
    yield "image stem", Arch((N("image", (), None, 0, 3), N("output", (0,), None, 0, 3))), (3, 9, 9)
    yield (
        "none",
        net(8, N("conv3x3", (0,), None, 0, 8), N("none", (0,), None, 0, 8), N("identity", (1, 2), "add", 0, 8)),
        (
            8,
            9,
            9,
        ),
    )
    yield (
        "output projects",
        Arch((N("image", (), None, 0, 8), N("output", (0,), None, 1, 16))),
        (8, 9, 9),
    )
    for op in ("upconv2x2", "upbilinear", "upnearest"):
        for act in ("linear", "post"):
            nodes = (N("conv3x3", (0,), None, 1, 16), N(op, (1,), None, 0, 8, act=act))
            yield f"{op}-{act}", net(3, *nodes, out={"op": "pixels"}), (3, 9, 9)
    yield "pixels at stage 1", net(3, N("conv3x3", (0,), None, 1, 16), out={"op": "pixels"}), (3, 9, 9)


OP_CASES = list(_op_cases())


def test_the_cases_cover_every_op_of_the_table():
    covered = {n.op.partition("_g")[0] for _, arch, _ in OP_CASES for n in arch.nodes}
    assert covered == set(OP_TABLE)


@pytest.mark.parametrize("arch, shape", [c[1:] for c in OP_CASES], ids=[c[0] for c in OP_CASES])
def test_every_op(arch, shape):
    assert_cost_is_torchs(arch, shape)


# ---- every attribute and merge --------------------------------------------------------------------
def _tied(tied: bool) -> Arch:
    b = Builder()
    x = b.stem("image", 8)
    ties = (b.new_tie(), b.new_tie()) if tied else (0, 0)
    for _ in range(3):
        x = basic_block(b, x, 8, ties=ties)
    return b.output(x)


ATTR_CASES = {
    "dilation": net(8, N("conv3x3", (0,), None, 1, 12, dilation=2), N("sepconv5x5", (1,), None, 1, 12, dilation=3)),
    "scale": net(8, N("conv3x3", (0,), None, 0, 8, scale=0.1), N("identity", (1, 0), "add", 0, 8, scale=0.5)),
    "zero_init": net(8, N("conv3x3", (0,), None, 0, 8, zero_init=True, act="pre")),
    "relu6": net(8, N("sepconv3x3", (0,), None, 0, 8, act="relu6")),
    "proj across two stages": net(8, N("conv3x3", (0,), None, 2, 16), N("identity", (1, 0), "add", 2, 16)),
    "avgproj across two stages": net(
        8, N("conv3x3", (0,), None, 2, 16), N("identity", (1, 0), "add", 2, 16, shortcut="avgproj")
    ),
    "avgproj, width only": net(
        8, N("conv3x3", (0,), None, 0, 16), N("identity", (1, 0), "add", 0, 16, shortcut="avgproj")
    ),
    "concat across stages": net(
        8, N("conv3x3", (0,), None, 1, 8), N("conv3x3", (1,), None, 2, 8), N("conv1x1", (0, 1, 2), "concat", 2, 16)
    ),
    "tie": _tied(True),
    "untied": _tied(False),
    "dropout": net(8, N("conv3x3", (0,), None, 0, 8), out={"dropout": 0.2}),
}


@pytest.mark.parametrize("name", list(ATTR_CASES))
def test_every_attribute_and_merge(name):
    assert_cost_is_torchs(ATTR_CASES[name], (8, 9, 9))


def test_hand_computed_costs():
    """The formulas, for the record (9x9 image, 10 classes)."""
    hw = 81
    dw = cost(net(8, N("dwconv3x3", (0,), None, 0, 8)), (8, 9, 9))
    assert dw.params == 8 * 9 + 2 * 8 + 8 * 10 + 10 and dw.flops == hw * 8 * 9 + 8 * 10
    g = cost(net(8, N("gconv1x1_g4", (0,), None, 0, 16)), (8, 9, 9))
    assert g.flops == hw * (8 // 4) * 16 + 16 * 10
    dilated = cost(net(8, N("conv3x3", (0,), None, 0, 8, dilation=2)), (8, 9, 9))
    assert dilated == cost(net(8, N("conv3x3", (0,), None, 0, 8)), (8, 9, 9))  # dilation is free
    tied, untied = cost(_tied(True), (8, 9, 9)), cost(_tied(False), (8, 9, 9))
    assert tied.flops == untied.flops and untied.params - tied.params == 2 * 2 * (8 * 8 * 9 + 2 * 8)
    up = cost(
        net(3, N("conv3x3", (0,), None, 1, 16), N("upconv2x2", (1,), None, 0, 8), out={"op": "pixels"}), (3, 8, 8)
    )
    assert up.flops == 16 * 3 * 16 * 9 + 64 * 16 * 8 + 64 * 8 * 10  # stem-less: conv, transposed conv, 1x1 head


def test_a_cpu_build_counts_what_the_meta_build_counts():
    arch = ATTR_CASES["concat across stages"]
    assert counted(arch, (8, 9, 9), device="cpu") == counted(arch, (8, 9, 9), device="meta")


# ---- random graphs and presets ------------------------------------------------------------------
def test_random_graphs():
    for arch in random_archs(150, seed=7):
        assert_cost_is_torchs(arch, (3, 20, 20))


def test_the_canonical_form_costs_what_the_graph_costs():
    """Canonicalising (dropping 'none' and dead nodes, bypassing and folding identities, untying
    lone ties, normalising shortcuts) never changes the network, so never its cost."""
    for arch in random_archs(300, seed=8):
        assert cost(arch.canonical(), (3, 20, 20)) == cost(arch, (3, 20, 20)), arch.to_json()


@pytest.mark.parametrize("name", preset_names())
def test_presets(name):
    assert_cost_is_torchs(preset(name, (3, 64, 64), stem="small"), (3, 64, 64))
    assert_cost_is_torchs(preset(name, (3, 224, 224), stem="imagenet"), (3, 224, 224), 1000)


def test_resnet18_imagenet_is_the_known_figure():
    """torchvision's resnet18: 11,689,512 parameters and "GFLOPS 1.81" (its model card counts MACs)."""
    c = cost(preset("resnet18", (3, 224, 224)), (3, 224, 224), 1000)
    assert c.params == 11_689_512
    assert round(c.flops / 1e9, 2) == 1.81


def test_the_counter_ignores_what_cost_ignores():
    """BatchNorm, pools, activations, resizes and shuffles: no FLOPs on either side."""
    arch = net(
        8,
        N("maxpool3x3", (0,), None, 0, 8, act="pre"),
        N("chshuffle_g2", (1,), None, 0, 8, act="post"),
        N("avgpool2x2", (2,), None, 1, 8),
        N("chunk0", (3,), None, 1, 4),
    )
    params, flops, ops = counted(arch, (8, 9, 9))
    assert ops == {"aten.addmm"} and flops == 2 * 4 * 10
    assert cost(arch, (8, 9, 9)) == type(cost(arch, (8, 9, 9)))(params, 4 * 10)
    bn = sum(
        m.weight.numel() + m.bias.numel() for m in build(arch, (8, 9, 9)).modules() if isinstance(m, nn.BatchNorm2d)
    )
    assert params == bn + 4 * 10 + 10
