"""Search space v2 (issue 10, part 3): skipdag's capacity and choices, its named designs, and
the cell mode (`skipcell`). The registry contract tests (test_spaces.py) cover both spaces too."""

from __future__ import annotations

import random
import statistics
import warnings

import optuna
import pytest
import torch
from optuna.trial import FixedTrial
from torch import nn

import search_spaces
from nas.ir import Arch, build, cost, parse_op
from nas.ir.blocks import Builder, basic_block
from search_spaces import SpaceConfigError
from search_spaces.skipdag import DESIGNS
from tests.helpers import relabel, sample_archs

SHAPE = (1, 28, 28)
WEIGHTED = {"conv", "pointwise", "grouped", "shuffle", "depthwise", "sepconv"}


@pytest.fixture(autouse=True)
def one_thread():
    """Small CPU convs run fastest on one thread (and the test machines are shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def fixed(space: search_spaces.SearchSpace, params: dict) -> tuple[Arch, dict]:
    """The architecture `params` sample, and the parameters the space asked for."""
    trial = FixedTrial(params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arch = space.sample(trial)
    return arch, trial.params


def train_one_step(arch: Arch, shape=SHAPE) -> nn.Module:
    torch.manual_seed(0)
    model = build(arch, shape, 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(4, *shape), torch.randint(0, 10, (4,))
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    opt.step()
    return model


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def quantile(values: list[int], q: float) -> int:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


# ---- designs -------------------------------------------------------------------------------------
DESIGN_PARAMS = {
    "resnet_32_64_128": 696_042,
    "resnet_36_72_144": 997_462,
    "densenet_bc_k12": 175_738,
    "shufflenet_v2_small": 83_018,
}


@pytest.mark.parametrize("name", sorted(DESIGN_PARAMS))
def test_design_builds_from_the_spaces_own_parameters_and_trains(name):
    space = search_spaces.get("skipdag")
    params = space.designs()[name]
    arch, asked = fixed(space, params)
    assert asked == params  # exactly the space's own decisions, every value one of its choices
    model = train_one_step(arch)
    print(f"{name}: {n_params(model):,} parameters, {len(arch.nodes)} nodes")
    assert cost(arch, SHAPE, 10).params == n_params(model) == DESIGN_PARAMS[name]
    assert cost(arch, (3, 32, 32), 10).params == n_params(build(arch, (3, 32, 32), 10))


def test_designs_are_listed_only_where_the_space_holds_them():
    assert sorted(search_spaces.get("skipdag").designs()) == sorted(DESIGNS) == sorted(DESIGN_PARAMS)
    narrow = search_spaces.get("skipdag", widths=[[32, 36], [64, 72], [128, 144]], blocks=["basic"])
    assert sorted(narrow.designs()) == ["resnet_32_64_128", "resnet_36_72_144"]
    # a decision that is no longer asked (one stem width) would change the network: not listed
    assert "resnet_36_72_144" not in search_spaces.get("skipdag", stem_widths=[32]).designs()


def test_an_enqueued_design_is_what_the_study_samples():
    """`nas search --enqueue-preset NAME` enqueues `designs()[NAME]` with `study.enqueue_trial`."""
    space = search_spaces.get("skipdag")
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    for name in ("resnet_32_64_128", "densenet_bc_k12"):
        study.enqueue_trial(space.designs()[name])
        trial = study.ask()
        assert space.sample(trial).hash() == fixed(space, space.designs()[name])[0].hash()
        study.tell(trial, 0.5)


def _reference_resnet(widths, blocks) -> Arch:
    """The CIFAR-style ResNet written with `nas.ir.blocks` directly."""
    b = Builder()
    x = b.stem("input", widths[0])
    for s, (w, n) in enumerate(zip(widths, blocks, strict=True)):
        for j in range(n):
            x = basic_block(b, x, w, 2 if s and not j else 1)
    return b.output(x)


@pytest.mark.parametrize(
    "name, widths, blocks",
    [("resnet_32_64_128", (32, 64, 128), (2, 2, 2)), ("resnet_36_72_144", (36, 72, 144), (3, 3, 2))],
)
def test_resnet_designs_are_the_resnets(name, widths, blocks):
    space = search_spaces.get("skipdag")
    arch, _ = fixed(space, space.designs()[name])
    assert arch.hash() == _reference_resnet(widths, blocks).hash()


class _DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int):
        super().__init__()
        self.norm1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, 4 * growth, 1, bias=False)
        self.norm2, self.conv2 = nn.BatchNorm2d(4 * growth), nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x):
        h = self.conv1(torch.relu(self.norm1(x)))
        return torch.cat([x, self.conv2(torch.relu(self.norm2(h)))], 1)


class _DenseNetBC(nn.Module):
    """DenseNet-BC as torchvision writes it, with the small-image stem (conv3x3-BN-ReLU, no pool)."""

    def __init__(self, growth=12, blocks=(6, 6, 6), init=24, classes=10):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, init, 3, padding=1, bias=False), nn.BatchNorm2d(init), nn.ReLU()]
        c = init
        for k, n in enumerate(blocks):
            for _ in range(n):
                layers.append(_DenseLayer(c, growth))
                c += growth
            if k != len(blocks) - 1:
                layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c // 2, 1, bias=False), nn.AvgPool2d(2)]
                c //= 2
        layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def test_densenet_design_is_densenet_bc_40_weight_for_weight():
    space = search_spaces.get("skipdag")
    arch, _ = fixed(space, space.designs()["densenet_bc_k12"])
    torch.manual_seed(0)
    ours, ref = build(arch, SHAPE, 10), _DenseNetBC()
    assert n_params(ours) == n_params(ref) == DESIGN_PARAMS["densenet_bc_k12"]
    ref_state, our_state = ref.state_dict(), ours.state_dict()
    assert [v.shape for v in ref_state.values()] == [v.shape for v in our_state.values()]
    for v in ref_state.values():  # randomise the BN statistics too
        if v.is_floating_point():
            v.copy_(torch.rand_like(v) + 0.5)
    ours.load_state_dict(dict(zip(our_state, ref_state.values(), strict=True)))
    x = torch.randn(3, *SHAPE)
    for train in (False, True):
        ours.train(train), ref.train(train)
        assert torch.allclose(ours(x), ref(x), atol=1e-5)


# ---- capacity ------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name, n", [("skipdag", 10_000), ("skipcell", 2_000), ("skipunet", 2_000)])
def test_relabelling_keeps_the_hash_of_the_spaces_own_samples(name, n):
    """Relabelling invariance over samples of the shipped spaces themselves (10k of the default
    space), next to the random graphs of the IR in tests/ir/test_canonical_v2.py; ~2 min. It found
    the order-dependent identity bypass that migration 0005 rehashes for."""
    rng = random.Random(7)
    space = search_spaces.get(name)
    archs = [a for seed in range(n // 1000) for a in sample_archs(space, 1000, seed=seed)]
    assert len({a.hash() for a in archs}) > 0.99 * n  # distinct networks, not one repeated
    for k, arch in enumerate(archs):
        assert relabel(arch, rng).hash() == arch.hash(), (name, k, arch.to_json())


def test_default_space_capacity():
    """2000 random samples at 1x28x28, 10 classes (the figures of docs/spaces.md)."""
    space = search_spaces.get("skipdag")
    params = []
    for arch in sample_archs(space, 2000, "random", seed=0):
        params.append(cost(arch, SHAPE, 10).params)
        weighted_stages: dict[int, bool] = {}
        for n in arch.without_none().nodes:
            kind = parse_op(n.op).kind
            if kind not in ("input", "output", "image"):
                weighted_stages[n.stage] = weighted_stages.get(n.stage, False) or kind in WEIGHTED
        assert all(weighted_stages.values()), arch.to_json()  # every stage holds a parameterised op
    median = statistics.median(params)
    print(
        f"params: min {min(params):,} q01 {quantile(params, 0.01):,} median {median:,.0f} "
        f"q99 {quantile(params, 0.99):,} max {max(params):,}"
    )
    assert 0.3e6 <= median <= 1.5e6
    assert 10_000 <= min(params) and quantile(params, 0.01) <= 60_000  # down to about 20k
    assert quantile(params, 0.99) >= 2e6 and 4e6 <= max(params) <= 15e6  # up to about 5M
    assert sum(p < 50_000 for p in params) / len(params) < 0.03


def test_cell_space_capacity_and_stacking():
    space = search_spaces.get("skipcell")
    params = [cost(a, SHAPE, 10).params for a in sample_archs(space, 500, "random", seed=0)]
    median = statistics.median(params)
    print(f"skipcell params: min {min(params):,} median {median:,.0f} max {max(params):,}")
    assert 0.3e6 <= median <= 1.5e6 and max(params) < 5e6
    fixed_cells = search_spaces.get("skipcell", cells=[2, 2], widths=[[16], [32], [64]])
    arch = sample_archs(fixed_cells, 1)[0]
    outputs = [n for n in arch.nodes if n.op == "identity" and n.merge == "concat"]
    assert [n.stage for n in outputs] == [0, 0, 1, 1, 1, 2, 2, 2]  # 2 normal cells a stage, reductions between


def test_cell_design_builds_and_trains():
    space = search_spaces.get("skipcell")
    params = space.designs()["darts_v2"]
    arch, asked = fixed(space, params)
    assert asked == params
    model = train_one_step(arch)
    print(f"darts_v2: {n_params(model):,} parameters, {len(arch.nodes)} nodes")
    assert cost(arch, SHAPE, 10).params == n_params(model)
    dilated = [n for n in arch.nodes if n.dilation == 2]
    assert len(dilated) == 2 * 3 and all(n.op == "sepconv3x3" for n in dilated)  # one per normal cell


def test_cell_none_edge_drops_the_edge():
    """One node: conv3x3 on c1 plus 'none' on c0; c0 is not even projected (no dead weights)."""
    options = {"widths": [[16]], "cells": [1, 1], "nodes": 1, "dilations": [1]}
    space = search_spaces.get("skipcell", ops=["conv3x3", "none"], **options)
    arch, asked = fixed(space, {"normal_n0_in1": "c0", "normal_n0_op1": "none"})
    assert asked == {"normal_n0_in1": "c0", "normal_n0_op1": "none"}  # node 0's first edge reads c1
    assert sum(n.op == "none" for n in arch.nodes) == 1
    stem, project, conv, head = 9 * 16 + 32, 16 * 16 + 32, 9 * 16 * 16 + 32, 16 * 10 + 10
    assert cost(arch).params == n_params(train_one_step(arch)) == stem + project + conv + head
    both = fixed(space, {"normal_n0_in1": "c0", "normal_n0_op1": "conv3x3"})[0]
    assert cost(both).params == stem + 2 * (project + conv) + head


def test_every_cell_is_used():
    """Whatever the cells read, every weight of the network reaches the output."""
    space = search_spaces.get("skipcell", widths=[[8], [8], [8]], cells=[1, 2])
    for arch in sample_archs(space, 40, "random", seed=3):
        model = build(arch, SHAPE, 10)
        model(torch.randn(2, *SHAPE)).sum().backward()
        assert all(p.grad is not None for p in model.parameters())


# ---- choices -------------------------------------------------------------------------------------
def _resnet_variant(**changes) -> dict:
    params = dict(DESIGNS["resnet_36_72_144"])
    params.update(changes)
    return params


def test_tied_stage_shares_weights_counted_once():
    space = search_spaces.get("skipdag")
    arch, _ = fixed(space, _resnet_variant(tie_s0=True, tie_s1=True))
    model = train_one_step(arch)
    saved = (2 * 36 * 36 * 9 + 4 * 36) + (2 * 72 * 72 * 9 + 4 * 72)  # block 3 of stages 0 and 1
    assert cost(arch).params == n_params(model) == DESIGN_PARAMS["resnet_36_72_144"] - saved
    assert len({n.tie for n in arch.nodes if n.tie}) == 4


def test_plain_op_with_a_scaled_add_skip_is_a_residual():
    """conv3x3 (linear) + a skip from its input, a = 0.1, zero-init: y = relu(x + 0.1 * BN(conv(x)))."""
    space = search_spaces.get("skipdag")
    key = "s0n1"
    params = _resnet_variant(
        **{
            f"kind_{key}": "op",
            f"op_{key}": "conv3x3",
            f"act_{key}": "linear",
            f"skips_{key}": 1,
            f"skip0_{key}": "in",
            f"merge_{key}": "add",
            f"scale_{key}": 0.1,
            f"zinit_{key}": True,
        }
    )
    arch, asked = fixed(space, params)
    assert asked == params
    i = next(i for i, n in enumerate(arch.nodes) if n.scale == 0.1)
    conv = arch.nodes[i]
    assert (conv.op, conv.act, conv.zero_init) == ("conv3x3", "linear", True)
    add = next(n for n in arch.nodes if n.inputs[:1] == (i,) and n.merge == "add")
    assert add.op == "identity" and add.act == "post" and len(add.inputs) == 2
    train_one_step(arch)


def test_join_and_concat_skips_and_none_slot():
    space = search_spaces.get("skipdag")
    params = _resnet_variant(
        **{"skips_s1n1": 2, "skip0_s1n1": "stem", "skip1_s1n1": "s0n0", "merge_s1n1": "join"},
        **{"skips_s1n2": 1, "skip0_s1n2": "s0n2", "merge_s1n2": "concat"},
        **{"kind_s0n1": "op", "op_s0n1": "none"},
    )
    for unasked in ("scale_s0n1", "zinit_s0n1", "skips_s0n1"):  # a 'none' slot asks no more
        del params[unasked]
    arch, asked = fixed(space, params)
    assert asked == params
    join = next(n for n in arch.nodes if n.op == "conv1x1" and n.merge == "concat")
    assert len(join.inputs) == 3 and join.width == 72
    concat = next(n for n in arch.nodes if n.op == "identity" and n.merge == "concat")
    assert concat.width == 72 + 36
    assert sum(n.op == "none" for n in arch.nodes) == 1 and arch.summary()["long_skips"] >= 2
    model = train_one_step(arch)
    assert cost(arch).params == n_params(model)


def test_ops_is_the_vocabulary():
    only_1x1 = search_spaces.get("skipdag", ops=["conv1x1"], max_skips=0)
    for arch in sample_archs(only_1x1, 20):
        assert {n.op for n in arch.nodes} == {"input", "conv1x1", "output"}
    no_dw = search_spaces.get("skipdag", ops=["conv3x3", "conv1x1", "identity"])
    kinds = {parse_op(n.op).kind for a in sample_archs(no_dw, 100) for n in a.nodes}
    assert "depthwise" not in kinds and "split" not in kinds and "avgpool" not in kinds
    asked = set()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(50):
        trial = study.ask()
        no_dw.sample(trial)
        asked |= {v for k, v in trial.params.items() if k.startswith("kind_")}
        study.tell(trial, 0.0)
    assert asked == {"op", "basic", "bottleneck", "dense"}


@pytest.mark.parametrize(
    "options, message",
    [
        ({"widths": [[17]], "groups": [1]}, r"width 17 of stage 0 is odd.*'shuffle'"),
        ({"widths": [[17]], "ops": ["conv3x3"]}, None),
        ({"ops": ["maxpool3x3", "identity"], "blocks": []}, r"first slot needs a weighted op or a block"),
        ({"widths": [[8]] * 16, "depth": [1, 200]}, r"up to 7 nodes a slot\) allow \d+ nodes, more than 4096"),
        ({"merges": ["mul"]}, r"option merges\[0\] = 'mul' is not allowed"),
        ({"scales": [0.0]}, r"option scales\[0\] = 0.0"),
    ],
)
def test_option_rules(options, message):
    if message is None:
        search_spaces.get("skipdag", **options)  # an odd width is fine without the shuffle block
        return
    with pytest.raises(SpaceConfigError, match=message) as e:
        search_spaces.get("skipdag", **options)
    assert "\n" not in str(e.value)


def test_cell_option_rules():
    for options, message in (
        ({"cells": [3, 1]}, "'cells'"),
        ({"ops": ["none"]}, "an op besides 'none'"),
        ({"widths": [[4096]], "nodes": 4}, "more than 8192 .MAX_WIDTH."),
        ({"ops": ["gconv3x3"]}, r"option ops\[0\] = 'gconv3x3' is not allowed"),
    ):
        with pytest.raises(SpaceConfigError, match=message):
            search_spaces.get("skipcell", **options)
    space = search_spaces.get("skipcell", widths=[[16]], cells=[1, 1], ops=["sepconv3x3", "identity"], dilations=[1, 2])
    assert space.edge_ops() == ["sepconv3x3", "identity", "sepconv3x3:d2"]


def test_scales_from_a_file_may_be_integers(tmp_path):
    (tmp_path / "s.toml").write_text("scales = [1, 0.5]\n")
    space = search_spaces.get("skipdag", config_file=str(tmp_path / "s.toml"))
    assert space.options.scales == (1.0, 0.5) and all(isinstance(a, float) for a in space.options.scales)
    assert search_spaces.get("skipdag", **space.options_dict()).options == space.options
