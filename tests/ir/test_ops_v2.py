"""The v2 ops and node attributes compute what they say (issue 10, part 1).

Each case compiles a small graph (an 'image' stem, the node(s) under test, the classifier) and
compares the feature map entering the classifier with a hand-written torch module holding the
same weights (copied in parameter order; BatchNorm statistics randomised so that eval mode
tests them), in train and eval mode, to 1e-6 (in float64, so only a real difference shows).
Then: weight ties (one module, counted once, kept by the exported source, gradients add up),
'none', the 'image' stem, and the one-line messages for misuse.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from nas.ir import Arch, InvalidArchitecture, Node, build, cost, to_source
from nas.ir.blocks import Builder, basic_block
from nas.ir.ops import ACTS
from tests.helpers import assert_same_features, channel_shuffle, features, randomise_bn
from tests.ir.test_canonical_v2 import random_archs

N = Node
TOL = 1e-6


# ---- the harness (features, assert_same_features, randomise_bn, channel_shuffle: tests/helpers.py)
def copy_weights(ours: nn.Module, ref: nn.Module) -> None:
    """Copy ours' state (less the classifier) into ref, entry by entry in registration order."""
    src = [(k, v) for k, v in ours.state_dict().items() if not k.startswith("head.")]
    dst = list(ref.state_dict().items())
    assert [tuple(v.shape) for _, v in src] == [tuple(v.shape) for _, v in dst], (
        [(k, tuple(v.shape)) for k, v in src],
        [(k, tuple(v.shape)) for k, v in dst],
    )
    ref.load_state_dict({k: v.clone() for (k, _), (_, v) in zip(dst, src, strict=True)})


def compiled(arch: Arch, shape: tuple[int, int, int], seed: int = 0) -> nn.Module:
    model = build(arch, shape, 10).double()
    randomise_bn(model, seed)
    return model


def assert_same_function(arch: Arch, ref: nn.Module, shape: tuple[int, int, int], *, randomise: bool = True) -> None:
    """arch's compiled features equal ref(x) in train mode, then in eval mode (same weights)."""
    model = build(arch, shape, 10).double()
    if randomise:
        randomise_bn(model)
    ref = ref.double()
    copy_weights(model, ref)
    assert sum(p.numel() for p in model.parameters()) == cost(arch, shape, 10).params
    assert_same_features(model, ref, shape, TOL)


def net(cin: int, *nodes: Node) -> Arch:
    """image(cin) -> nodes (node k of the list is index k + 1) -> output reading the last one."""
    last = nodes[-1]
    return Arch((N("image", (), None, 0, cin), *nodes, N("output", (len(nodes),), None, last.stage, last.width)))


class Fn(nn.Module):
    """A module from a function (and the modules that hold its weights, registered in order)."""

    def __init__(self, fn, *mods: nn.Module) -> None:
        super().__init__()
        self.mods = nn.ModuleList(mods)
        self.fn = fn

    def forward(self, x):
        return self.fn(x, *self.mods)


def act_fn(act: str):
    return {"post": F.relu, "relu6": F.relu6, "linear": lambda t: t, "pre": lambda t: t}[act]


# ---- hand-written references of single ops ------------------------------------------------------
CONV_LIKE = {  # op: (kernel, groups as a function of the input width, shuffle groups)
    "conv3x3": (3, lambda c: 1, 0),
    "conv5x5": (5, lambda c: 1, 0),
    "conv7x7": (7, lambda c: 1, 0),
    "conv1x1": (1, lambda c: 1, 0),
    "gconv3x3_g2": (3, lambda c: 2, 0),
    "gconv1x1_g2": (1, lambda c: 2, 0),
    "gconv1x1_g4": (1, lambda c: 4, 0),
    "shuffle3x3_g2": (3, lambda c: 2, 2),
    "dwconv3x3": (3, lambda c: c, 0),
    "dwconv5x5": (5, lambda c: c, 0),
}


def ref_op(op: str, act: str, cin: int, cout: int, stride: int, dilation: int = 1) -> nn.Module:
    """The op as a hand-written module: the recipe of nas.ir.compile's docstring."""
    if op in CONV_LIKE:
        k, groups, shuffle = CONV_LIKE[op]
        conv = nn.Conv2d(cin, cout, k, stride, dilation * (k // 2), dilation, groups(cin), bias=False)

        def shuffled(y):
            return channel_shuffle(y, shuffle) if shuffle else y

        if act == "pre":
            bn = nn.BatchNorm2d(cin)
            return Fn(lambda x, bn, conv: shuffled(conv(F.relu(bn(x)))), bn, conv)
        bn = nn.BatchNorm2d(cout)
        return Fn(lambda x, conv, bn: shuffled(act_fn(act)(bn(conv(x)))), conv, bn)
    if op.startswith("sepconv"):
        k = int(op[7])
        dw = nn.Conv2d(cin, cin, k, stride, dilation * (k // 2), dilation, groups=cin, bias=False)
        pw = nn.Conv2d(cin, cout, 1, bias=False)
        if act == "pre":
            bn0, bn1 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cin)
            return Fn(lambda x, bn0, dw, bn1, pw: pw(F.relu(bn1(dw(F.relu(bn0(x)))))), bn0, dw, bn1, pw)
        inner = F.relu6 if act == "relu6" else F.relu
        bn1, bn2 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cout)
        return Fn(lambda x, dw, bn1, pw, bn2: act_fn(act)(bn2(pw(inner(bn1(dw(x)))))), dw, bn1, pw, bn2)
    # no weights of its own: optional BN-ReLU before, the op, a projection where the shape changes
    mods: list[nn.Module] = [nn.BatchNorm2d(cin)] if act == "pre" else []

    def base(x):
        if op == "maxpool3x3":
            return F.max_pool2d(x, 3, stride, 1), 1
        if op == "avgpool3x3":
            return F.avg_pool2d(x, 3, stride, 1, count_include_pad=False), 1
        if op == "maxpool2x2":
            return F.max_pool2d(x, 2, 2, ceil_mode=True), 1
        if op == "avgpool2x2":
            return F.avg_pool2d(x, 2, 2, ceil_mode=True), 1
        if op.startswith("chshuffle"):
            return channel_shuffle(x, int(op.split("_g")[1])), stride
        if op in ("chunk0", "chunk1"):
            return x.chunk(2, dim=1)[int(op[-1])], stride
        assert op == "identity"
        return x, stride

    half = cin // 2 if op.startswith("chunk") else cin
    project = stride > 1 and op in ("identity",) or half != cout
    if project:
        mods += [nn.Conv2d(half, cout, 1, stride if op == "identity" else 1, bias=False), nn.BatchNorm2d(cout)]

    def forward(x, *mods):
        if act == "pre":
            x = F.relu(mods[0](x))
            mods = mods[1:]
        y, s = base(x)
        if project:
            y = mods[1](mods[0](y))
        return act_fn(act)(y)

    return Fn(forward, *mods)


def _op_cases():
    """(op, act, cin, cout, stride) for every op and activation placement, with and without a
    stride and a width change where the op allows them."""
    ops = [*CONV_LIKE, "sepconv3x3", "sepconv5x5", "identity", "maxpool3x3", "avgpool3x3"]
    for op in ops:
        keep = op.startswith("dwconv")
        for act in ACTS:
            for stride in (1, 2):
                for cout in (8,) if keep else (8, 12):
                    yield op, act, 8, cout, stride
    for op in ("maxpool2x2", "avgpool2x2"):
        for act in ACTS:
            for cout in (8, 12):
                yield op, act, 8, cout, 2
    for op in ("chshuffle_g2", "chshuffle_g4", "chunk0", "chunk1"):
        for act in ACTS:
            yield op, act, 8, 4 if op.startswith("chunk") else 8, 1


@pytest.mark.parametrize("op, act, cin, cout, stride", list(_op_cases()))
def test_each_op_and_activation_placement_matches_a_hand_written_module(op, act, cin, cout, stride):
    stage = 1 if stride == 2 else 0
    arch = net(cin, N(op, (0,), None, stage, cout, act=act))
    assert_same_function(arch, ref_op(op, act, cin, cout, stride), (cin, 7, 7))


@pytest.mark.parametrize("op", ["conv3x3", "conv5x5", "gconv3x3_g2", "shuffle3x3_g2", "dwconv3x3", "sepconv3x3"])
@pytest.mark.parametrize("dilation, stride", [(2, 1), (3, 1), (2, 2)])
def test_dilation(op, dilation, stride):
    cout = 8 if op.startswith("dw") else 12
    arch = net(8, N(op, (0,), None, stride - 1, cout, dilation=dilation))
    assert_same_function(arch, ref_op(op, "post", 8, cout, stride, dilation), (8, 9, 9))
    model = build(arch, (8, 9, 9))
    assert [m.dilation for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size[0] > 1] == [
        (dilation, dilation)
    ]


def test_replace_stride_with_dilation_keeps_the_resolution():
    """torchvision's replace_stride_with_dilation: the stride-2 conv becomes a dilated stride-1 one."""
    strided = net(3, N("conv3x3", (0,), None, 1, 8))
    dilated = net(3, N("conv3x3", (0,), None, 0, 8, dilation=2))
    x = torch.randn(1, 3, 16, 16)
    assert features(build(strided, (3, 16, 16)), x).shape[-1] == 8
    assert features(build(dilated, (3, 16, 16)), x).shape[-1] == 16
    assert cost(dilated, (3, 16, 16)).params == cost(strided, (3, 16, 16)).params


# ---- scale ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("a", [1.0, 0.2, 0.1])
def test_scale_gives_x_plus_a_times_f(a):
    """Y = X + a*F(X): the scale on F's last node (conv-BN, linear), then the add."""
    arch = net(8, N("conv3x3", (0,), None, 0, 8, act="linear", scale=a), N("identity", (1, 0), "add", 0, 8))
    conv, bn = nn.Conv2d(8, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8)
    assert_same_function(arch, Fn(lambda x, conv, bn: x + a * bn(conv(x)), conv, bn), (8, 6, 6))


def test_scale_multiplies_after_the_activation_and_on_ops_without_weights():
    arch = net(
        8,
        N("conv3x3", (0,), None, 0, 8, scale=0.5),  # relu(bn(conv x)) * 0.5
        N("avgpool3x3", (1,), None, 0, 8, scale=0.2),
        N("identity", (2, 0), "add", 0, 8, act="post", scale=2.0),
    )
    conv, bn = nn.Conv2d(8, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8)

    def ref(x, conv, bn):
        y = F.relu(bn(conv(x))) * 0.5
        y = F.avg_pool2d(y, 3, 1, 1, count_include_pad=False) * 0.2
        return F.relu(y + x) * 2.0

    assert_same_function(arch, Fn(ref, conv, bn), (8, 6, 6))


# ---- zero_init ---------------------------------------------------------------------------------
def _block_arch(width: int = 8, **kw) -> tuple[Arch, int]:
    b = Builder()
    x = b.stem("image", width)
    y = basic_block(b, x, width, **kw)
    return b.output(y), y


@pytest.mark.parametrize("train", [True, False])
def test_zero_init_residual_starts_as_the_identity_path_plus_relu(train):
    arch, _ = _block_arch(zero_init=True)
    model = build(arch, (8, 6, 6)).train(train)
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        assert torch.equal(features(model, x), F.relu(x))
    # only the branch's last BN starts at zero
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert [bool((m.weight == 0).all()) for m in bns] == [False, True]
    plain, _ = _block_arch()
    with torch.no_grad():
        assert not torch.equal(features(build(plain, (8, 6, 6)).train(train), x), F.relu(x))


def test_zero_init_with_pre_activation_zeroes_the_last_conv():
    arch, _ = _block_arch(zero_init=True, preact=True)
    model = build(arch, (8, 6, 6))
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        assert torch.equal(features(model, x), x)  # ResNet v2: no ReLU after the add
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [bool((m.weight == 0).all()) for m in convs] == [False, True]


@pytest.mark.parametrize("op", ["sepconv3x3", "conv1x1", "gconv3x3_g2", "dwconv3x3", "shuffle3x3_g2"])
@pytest.mark.parametrize("act", ["linear", "post", "pre", "relu6"])
def test_zero_init_silences_a_branch_of_any_weighted_op(op, act):
    arch = net(8, N(op, (0,), None, 0, 8, act=act, zero_init=True), N("identity", (1, 0), "add", 0, 8))
    x = torch.randn(2, 8, 5, 5)
    for train in (True, False):
        with torch.no_grad():
            assert torch.equal(features(build(arch, (8, 5, 5)).train(train), x), x)


# ---- shortcuts -----------------------------------------------------------------------------------
@pytest.mark.parametrize("shortcut", ["proj", "avgproj"])
@pytest.mark.parametrize("size", [7, 8])
def test_projection_shortcuts(shortcut, size):
    """A strided, widening add: 'proj' is conv1x1 stride 2 + BN, 'avgproj' (ResNet-D) is
    AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False), conv1x1, BN."""
    arch = net(
        8,
        N("conv3x3", (0,), None, 1, 16),
        N("conv3x3", (1,), None, 1, 16, act="linear"),
        N("identity", (2, 0), "add", 1, 16, act="post", shortcut=shortcut),
    )
    c1, b1 = nn.Conv2d(8, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16)
    c2, b2 = nn.Conv2d(16, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16)
    if shortcut == "proj":
        short = nn.Sequential(nn.Conv2d(8, 16, 1, 2, bias=False), nn.BatchNorm2d(16))
    else:
        short = nn.Sequential(
            nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False),
            nn.Conv2d(8, 16, 1, bias=False),
            nn.BatchNorm2d(16),
        )
    ref = Fn(lambda x, c1, b1, c2, b2, s: F.relu(b2(c2(F.relu(b1(c1(x))))) + s(x)), c1, b1, c2, b2, short)
    assert_same_function(arch, ref, (8, size, size))


def test_avgproj_across_two_stages_pools_by_four():
    arch = net(8, N("conv3x3", (0,), None, 2, 16), N("identity", (1, 0), "add", 2, 16, shortcut="avgproj"))
    conv, bn = nn.Conv2d(8, 16, 3, 4, 1, bias=False), nn.BatchNorm2d(16)
    # the conv above strides 4 in one step; the compiled one too (stage 0 -> 2)
    short = nn.Sequential(
        nn.AvgPool2d(4, 4, ceil_mode=True, count_include_pad=False), nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16)
    )
    ref = Fn(lambda x, conv, bn, s: F.relu(bn(conv(x))) + s(x), conv, bn, short)
    assert_same_function(arch, ref, (8, 9, 9))


def test_avgproj_without_a_stride_is_the_plain_projection():
    def arch(shortcut):
        return net(8, N("conv3x3", (0,), None, 0, 16), N("identity", (1, 0), "add", 0, 16, shortcut=shortcut))

    assert cost(arch("avgproj"), (8, 6, 6)) == cost(arch("proj"), (8, 6, 6))
    assert "nn.AvgPool2d" not in to_source(arch("avgproj"), (8, 6, 6))


# ---- ties ------------------------------------------------------------------------------------
def _tied_blocks(tied: bool) -> tuple[Arch, list[int]]:
    b = Builder()
    x = b.stem("image", 8)
    ties = (b.new_tie(), b.new_tie()) if tied else (0, 0)
    y = basic_block(b, x, 8, ties=ties)
    z = basic_block(b, y, 8, ties=ties)
    return b.output(z), [i for i, n in enumerate(b.nodes) if n.op == "conv3x3"]


class _Basic(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + x)


def test_tied_blocks_are_one_block_applied_twice():
    arch, convs = _tied_blocks(True)
    block = _Basic(8)
    assert_same_function(arch, Fn(lambda x, blk: blk(blk(x)), block), (8, 6, 6))


def test_tied_parameters_count_once_in_cost_and_in_torch():
    tied, _ = _tied_blocks(True)
    untied, _ = _tied_blocks(False)
    one_block = 2 * (8 * 8 * 9 + 2 * 8)
    assert cost(untied, (8, 6, 6)).params - cost(tied, (8, 6, 6)).params == one_block
    assert cost(tied, (8, 6, 6)).flops == cost(untied, (8, 6, 6)).flops  # the layers still run twice
    model = build(tied, (8, 6, 6))
    assert sum(p.numel() for p in model.parameters()) == cost(tied, (8, 6, 6)).params
    assert len(list(model.parameters())) == len(list(model.named_parameters(remove_duplicate=False)))


def test_the_exported_source_keeps_the_tie():
    arch, convs = _tied_blocks(True)
    namespace: dict = {}
    exec(compile(to_source(arch, (8, 6, 6), 10), "<export>", "exec"), namespace)
    net_ = namespace["Net"]()
    for i in convs[2:]:
        assert not hasattr(net_, f"n{i}")  # the repeats hold no module of their own
    used: list[nn.Parameter] = []
    for m in net_.modules():
        if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3):
            m.register_forward_hook(lambda mod, i, o: used.append(mod.weight))
    net_(torch.randn(1, 8, 6, 6))
    assert len(used) == 4
    assert used[0] is used[2] and used[1] is used[3] and used[0] is not used[1]  # the same Parameter objects
    net_.load_state_dict(build(arch, (8, 6, 6)).state_dict(), strict=True)  # the same state as the built one


def test_gradients_of_tied_layers_accumulate():
    tied, convs = _tied_blocks(True)
    untied, _ = _tied_blocks(False)
    a = build(tied, (8, 6, 6)).double()
    b = build(untied, (8, 6, 6)).double()
    sd = a.state_dict()
    own = {k: v for k, v in sd.items()}
    # the untied copy: both blocks start from the tied weights
    first, second = f"n{convs[0]}", f"n{convs[1]}"
    repeat1, repeat2 = f"n{convs[2]}", f"n{convs[3]}"
    for k, v in sd.items():
        for src, dst in ((first, repeat1), (second, repeat2)):
            if k.startswith(src + "."):
                own[dst + k[len(src) :]] = v
    b.load_state_dict(own, strict=True)
    x = torch.randn(2, 8, 6, 6, dtype=torch.float64)
    a(x).sum().backward()
    b(x).sum().backward()
    for src, dst in ((first, repeat1), (second, repeat2)):
        g_tied = getattr(a, src)[0].weight.grad
        g_sum = getattr(b, src)[0].weight.grad + getattr(b, dst)[0].weight.grad
        torch.testing.assert_close(g_tied, g_sum, atol=1e-9, rtol=1e-9)


# ---- dropout -------------------------------------------------------------------------------------
def test_dropout_before_the_classifier():
    arch = Arch(
        (N("image", (), None, 0, 8), N("conv3x3", (0,), None, 0, 8), N("output", (1,), None, 0, 8, dropout=0.2))
    )
    model = build(arch, (8, 5, 5), 10).double()
    randomise_bn(model)
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.2]
    plain = Arch((*arch.nodes[:2], N("output", (1,), None, 0, 8)))
    assert cost(arch, (8, 5, 5), 10) == cost(plain, (8, 5, 5), 10)
    conv, bn, fc = nn.Conv2d(8, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.Linear(8, 10)
    nn.Sequential(conv, bn, fc).double()  # the reference layers, in float64
    fc.load_state_dict({"weight": model.head[2].weight, "bias": model.head[2].bias})
    copy_weights(model, nn.Sequential(conv, bn))
    x = torch.randn(4, 8, 5, 5, dtype=torch.float64)
    for train in (True, False):
        model.train(train)
        bn.train(train)
        torch.manual_seed(3)
        got = model(x)
        torch.manual_seed(3)
        pooled = F.relu(bn(conv(x))).mean((2, 3))
        want = fc(F.dropout(pooled, 0.2, training=train))
        torch.testing.assert_close(got, want, atol=TOL, rtol=0)


# ---- 'none' --------------------------------------------------------------------------------------
def test_merges_skip_none_and_a_node_reading_only_none_is_absent():
    with_none = net(
        8,
        N("conv3x3", (0,), None, 0, 8),
        N("none", (0,), None, 0, 8),
        N("conv5x5", (2,), None, 0, 8),  # reads only 'none': absent, no module
        N("identity", (1, 2, 3), "add", 0, 8, act="post"),
        N("conv1x1", (4, 2), "concat", 0, 8),  # a concat skips it too
    )
    conv, bn = nn.Conv2d(8, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8)
    pw, bn2 = nn.Conv2d(8, 8, 1, bias=False), nn.BatchNorm2d(8)
    ref = Fn(lambda x, conv, bn, pw, bn2: F.relu(bn2(pw(F.relu(F.relu(bn(conv(x))))))), conv, bn, pw, bn2)
    assert_same_function(with_none, ref, (8, 6, 6))
    source = to_source(with_none, (8, 6, 6))
    assert source.count("nn.Conv2d(") == 2 and "8, 8, 5," not in source  # no module for the absent conv5x5


def test_an_output_reading_only_none_is_invalid():
    with pytest.raises(InvalidArchitecture, match=r"^node 3 \(output\) reads only 'none' nodes; nothing reaches"):
        Arch(
            (
                N("image", (), None, 0, 3),
                N("none", (0,), None, 0, 8),
                N("conv3x3", (1,), None, 0, 8),
                N("output", (2,), None, 0, 8),
            )
        )


# ---- the image stem ------------------------------------------------------------------------------
def test_the_image_stem_is_the_image_itself():
    arch = net(3, N("identity", (0,), None, 0, 3))
    x = torch.randn(2, 3, 5, 5)
    assert torch.equal(features(build(arch, (3, 5, 5)), x), x)
    assert cost(arch, (3, 5, 5)).params == 3 * 10 + 10


@pytest.mark.parametrize("call", [build, cost, to_source])
def test_an_image_stem_of_other_channels_is_a_clear_error(call):
    arch = net(3, N("conv3x3", (0,), None, 0, 8))
    with pytest.raises(ValueError, match=r"'image' node takes 3-channel images, not 1 \(input shape \(1, 28, 28\)\)"):
        call(arch, (1, 28, 28), 10)


# ---- shuffle, split, depthwise, grouped 1x1 --------------------------------------------------
@pytest.mark.parametrize("groups", [2, 3, 4])
def test_chshuffle_is_torchvisions_channel_shuffle(groups):
    c = 12
    arch = net(c, N(f"chshuffle_g{groups}", (0,), None, 0, c))
    x = torch.randn(2, c, 3, 3)
    assert torch.equal(features(build(arch, (c, 3, 3)), x), channel_shuffle(x, groups))
    assert cost(arch, (c, 3, 3)).params == c * 10 + 10  # no weights


@pytest.mark.parametrize("part", [0, 1])
def test_chunk_is_x_chunk(part):
    arch = net(10, N(f"chunk{part}", (0,), None, 0, 5))
    x = torch.randn(2, 10, 3, 3)
    assert torch.equal(features(build(arch, (10, 3, 3)), x), x.chunk(2, dim=1)[part])


def test_a_concat_into_chunks_splits_it_back():
    """ShuffleNet v2's split of a concat: chunk0/chunk1 give back the two inputs."""
    arch = Arch(
        (
            N("image", (), None, 0, 8),
            N("chunk1", (0,), None, 0, 4),
            N("chunk0", (0,), None, 0, 4),
            N("identity", (1, 2), "concat", 0, 8),  # [second half, first half]
            N("chunk0", (3,), None, 0, 4),
            N("output", (4,), None, 0, 4),
        )
    )
    x = torch.randn(1, 8, 3, 3)
    assert torch.equal(features(build(arch, (8, 3, 3)), x), x[:, 4:])


def test_depthwise_and_grouped_1x1_weights():
    arch = net(8, N("dwconv3x3", (0,), None, 1, 8), N("gconv1x1_g4", (1,), None, 1, 16))
    model = build(arch, (8, 8, 8))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.groups, tuple(m.weight.shape), m.stride) for m in convs] == [
        (8, (8, 1, 3, 3), (2, 2)),
        (4, (16, 2, 1, 1), (1, 1)),
    ]
    ref = Fn(lambda x, a, b: b(a(x)), ref_op("dwconv3x3", "post", 8, 8, 2), ref_op("gconv1x1_g4", "post", 8, 16, 1))
    assert_same_function(arch, ref, (8, 8, 8))


# ---- misuse: one line each, naming the node ------------------------------------------------------
def _with(node: Node, cin: int = 8, extra: tuple[Node, ...] = ()) -> tuple[Node, ...]:
    return (N("image", (), None, 0, cin), node, *extra)


MISUSE = [
    (
        "dilation on a 1x1",
        (N("image", (), None, 0, 8), N("conv1x1", (0,), None, 0, 8, dilation=2), N("output", (1,), None, 0, 8)),
        r"^node 1 \(conv1x1\): dilation = 2 needs an op with a kxk convolution",
    ),
    (
        "dilation on a pool",
        (N("image", (), None, 0, 8), N("maxpool3x3", (0,), None, 0, 8, dilation=2), N("output", (1,), None, 0, 8)),
        r"^node 1 \(maxpool3x3\): dilation = 2 needs an op with a kxk convolution",
    ),
    (
        "dilation on a transposed conv (fixed: was accepted and ignored)",
        (
            N("image", (), None, 0, 8),
            N("conv3x3", (0,), None, 1, 8),
            N("upconv2x2", (1,), None, 0, 8, dilation=2),
            N("pixels", (2,), None, 0, 8),
        ),
        r"^node 2 \(upconv2x2\): dilation = 2 needs",
    ),
    (
        "zero_init on a pool",
        (N("image", (), None, 0, 8), N("avgpool3x3", (0,), None, 0, 8, zero_init=True), N("output", (1,), None, 0, 8)),
        r"^node 1 \(avgpool3x3\): zero_init needs an op with weights \(a conv\), not 'avgpool3x3'",
    ),
    (
        "tie on an identity",
        (N("image", (), None, 0, 8), N("identity", (0,), None, 0, 8, tie=1), N("output", (1,), None, 0, 8)),
        r"^node 1 \(identity\): tie needs an op with weights",
    ),
    (
        "tie mismatch (width)",
        (
            N("image", (), None, 0, 8),
            N("conv3x3", (0,), None, 0, 8, tie=1),
            N("conv3x3", (1,), None, 0, 16, tie=1),
            N("output", (2,), None, 0, 16),
        ),
        r"^node 2 \(conv3x3\): tie 1 joins it to node 1, but they differ in op, act, widths",
    ),
    (
        "tie mismatch (act)",
        (
            N("image", (), None, 0, 8),
            N("conv3x3", (0,), None, 0, 8, tie=1),
            N("conv3x3", (1,), None, 0, 8, tie=1, act="pre"),
            N("output", (2,), None, 0, 8),
        ),
        r"^node 2 \(conv3x3\): tie 1 joins it to node 1",
    ),
    (
        "tie mismatch (stride)",
        (
            N("image", (), None, 0, 8),
            N("conv3x3", (0,), None, 0, 8, tie=1),
            N("conv3x3", (1,), None, 1, 8, tie=1),
            N("output", (2,), None, 1, 8),
        ),
        r"^node 2 \(conv3x3\): tie 1 joins it to node 1",
    ),
    (
        "dwconv width change",
        (N("image", (), None, 0, 8), N("dwconv3x3", (0,), None, 0, 16), N("output", (1,), None, 0, 16)),
        r"^node 1 \(dwconv3x3\): width 16 differs from its input width 8; a depthwise op keeps the width",
    ),
    (
        "chshuffle width change",
        (N("image", (), None, 0, 8), N("chshuffle_g2", (0,), None, 0, 16), N("output", (1,), None, 0, 16)),
        r"^node 1 \(chshuffle_g2\): width 16 differs from its input width 8",
    ),
    (
        "chunk width",
        (N("image", (), None, 0, 8), N("chunk0", (0,), None, 0, 8), N("output", (1,), None, 0, 8)),
        r"^node 1 \(chunk0\): width 8 must be half its input width 8 \(an even number\)",
    ),
    (
        "chunk of an odd width",
        (N("image", (), None, 0, 7), N("chunk1", (0,), None, 0, 3), N("output", (1,), None, 0, 3)),
        r"^node 1 \(chunk1\): width 3 must be half its input width 7",
    ),
    (
        "chunk with a stride",
        (N("image", (), None, 0, 8), N("chunk0", (0,), None, 1, 4), N("output", (1,), None, 1, 4)),
        r"^node 1 \(chunk0\): stage 1 differs from its inputs' stage 0; a split op cannot stride",
    ),
    (
        "2x2 pool at its input's stage",
        (N("image", (), None, 0, 8), N("maxpool2x2", (0,), None, 0, 8), N("output", (1,), None, 0, 8)),
        r"^node 1 \(maxpool2x2\): a 2x2 pool halves the resolution once, so its stage must be 1",
    ),
    (
        "grouped widths",
        (N("image", (), None, 0, 6), N("gconv1x1_g4", (0,), None, 0, 8), N("output", (1,), None, 0, 8)),
        r"^node 1 \(gconv1x1_g4\): input width 6 is not divisible by 4 groups",
    ),
    (
        "act on the stem",
        (N("image", (), None, 0, 8, act="post"), N("conv3x3", (0,), None, 0, 8), N("output", (1,), None, 0, 8)),
        r"^node 0 \(image\): act = 'post' is not allowed on a image node",
    ),
    (
        "dropout off the output",
        (N("image", (), None, 0, 8), N("conv3x3", (0,), None, 0, 8, dropout=0.1), N("output", (1,), None, 0, 8)),
        r"^node 1 \(conv3x3\): dropout belongs on the output node only",
    ),
    (
        "act on a none node",
        (N("image", (), None, 0, 8), N("none", (0,), None, 0, 8, act="pre"), N("output", (0, 1), "add", 0, 8)),
        r"^node 1 \(none\): act = 'pre' is not allowed on a none node",
    ),
    (
        "the node is named by its own index after 'none' nodes (fixed: was the index without them)",
        (
            N("image", (), None, 0, 8),
            N("none", (0,), None, 0, 8),
            N("conv3x3", (0,), None, 0, 8),
            N("dwconv3x3", (2,), None, 0, 16),
            N("output", (3,), None, 0, 16),
        ),
        r"^node 3 \(dwconv3x3\): width 16 differs",
    ),
    (
        "a tie named across 'none' nodes",
        (
            N("image", (), None, 0, 8),
            N("none", (0,), None, 0, 8),
            N("conv3x3", (0,), None, 0, 8, tie=2),
            N("conv3x3", (2,), None, 0, 8, tie=2, dilation=2),
            N("output", (3,), None, 0, 8),
        ),
        r"^node 3 \(conv3x3\): tie 2 joins it to node 2",
    ),
]


@pytest.mark.parametrize("nodes, message", [case[1:] for case in MISUSE], ids=[case[0] for case in MISUSE])
def test_misuse_is_one_line_naming_the_node(nodes, message):
    with pytest.raises(InvalidArchitecture, match=message) as e:
        Arch(nodes)
    assert "\n" not in str(e.value)
    data = {"schema": "nas.arch/2", "nodes": []}
    for n in nodes:
        data["nodes"].append(
            {"op": n.op, "merge": n.merge, "inputs": list(n.inputs), "stage": n.stage, "width": n.width}
        )
        data["nodes"][-1] |= n.extras()
    with pytest.raises(InvalidArchitecture, match=message):  # the same from a file
        Arch.from_dict(data)


# ---- the exported source is the built module -------------------------------------------------------
def test_exported_source_equals_build_on_random_graphs():
    """Ties, 'none', the image stem, every block: a fresh namespace runs the same network."""
    for arch in random_archs(30, seed=9, max_nodes=40):
        model = build(arch, (3, 12, 12), 10).eval()
        namespace: dict = {}
        exec(compile(to_source(arch, (3, 12, 12), 10), "<export>", "exec"), namespace)
        exported = namespace["Net"]().eval()
        exported.load_state_dict(model.state_dict(), strict=True)
        x = torch.randn(2, 3, 12, 12)
        with torch.no_grad():
            assert torch.equal(model(x), exported(x))
