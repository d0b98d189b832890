"""The `skipunet` space: U-Nets and UNet++ grids of any v2 block, with long skips per level
(the registry contract tests in test_spaces.py run over it too)."""

from __future__ import annotations

import pytest
import torch
from optuna.trial import FixedTrial

import search_spaces
from nas.ir import build, cost, parse_op
from search_spaces import SpaceConfigError
from search_spaces.skipunet import BLOCKS, SkipUNet
from tests.helpers import sample_archs


def _params(levels=3, block="double", skip="concat", up="upconv2x2", nested=False, **extra):
    p = {"levels": levels, "down": "maxpool", "up": up}
    p |= {f"width_l{k}": (16, 32, 64, 128)[k] for k in range(levels)}
    p |= {f"enc_l{k}": block for k in range(levels)}
    p |= {f"dec_l{k}": block for k in range(levels - 1)}
    p |= {f"skip_l{k}": skip for k in range(levels - 1)}
    if levels >= 3:
        p["nested"] = nested
    return p | extra


def test_registered_as_a_dense_space_with_its_own_dataset():
    assert "skipunet" in search_spaces.names()
    cls = search_spaces.space_class("skipunet")
    assert cls is SkipUNet and cls.task == "segment" and cls.default_dataset == "fmnist-seg"
    assert search_spaces.space_class("skipdag").task == "classify"


def test_a_unet_design_is_an_encoder_decoder_with_concat_skips_skip_first():
    space = search_spaces.get("skipunet", widths=[[16], [32], [64], [128]])
    arch = space.sample(FixedTrial(_params()))
    assert arch.dense and arch.nodes[arch.output_index].op == "pixels"
    ups = [i for i, n in enumerate(arch.nodes) if parse_op(n.op).kind == "upconv"]
    assert [arch.nodes[i].stage for i in ups] == [1, 0]
    for u in ups:  # the conv after each up-sampling concatenates [skip, up-sampled]
        (reader,) = [n for n in arch.nodes if u in n.inputs]
        assert reader.merge == "concat" and reader.inputs[-1] == u
        assert arch.nodes[reader.inputs[0]].stage == arch.nodes[u].stage
    shape = (1, 36, 44)
    model = build(arch, shape, 5)
    assert model(torch.randn(2, *shape)).shape == (2, 5, 36, 44)
    assert cost(arch, shape, 5).params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("block, skip", [(b, ("concat", "add", "none")[i % 3]) for i, b in enumerate(BLOCKS)])
def test_every_block_and_skip_builds(block, skip):
    space = search_spaces.get("skipunet", widths=[[8], [16], [16]], levels=[3, 3])
    arch = space.sample(FixedTrial(_params(block=block, skip=skip, up="upbilinear")))
    model = build(arch, (3, 20, 20), 4)
    y = model(torch.randn(2, 3, 20, 20))
    assert y.shape == (2, 4, 20, 20)
    y.mean().backward()
    assert all(p.grad is not None for p in model.parameters())  # no dead node: every layer is used


def test_nested_skips_make_the_unetpp_grid():
    space = search_spaces.get("skipunet", widths=[[16], [32], [64], [128]])
    plain = space.sample(FixedTrial(_params(levels=4, skip="concat", nested=False)))
    nested = space.sample(FixedTrial(_params(levels=4, skip="concat", nested=True)))
    ups = [sum(parse_op(n.op).kind == "upconv" for n in a.nodes) for a in (plain, nested)]
    assert ups == [3, 6]  # UNet++: X[i][j] for j >= 1, i + j <= 3
    widest = max(len(n.inputs) for n in nested.nodes)
    assert widest == 4  # X[0][3] reads X[0][0..2] and the up-sampled X[1][2]
    # with no skips, a nested grid has nothing to nest: only the cells on the way to the output
    bare = space.sample(FixedTrial(_params(levels=4, skip="none", nested=True)))
    assert sum(parse_op(n.op).kind == "upconv" for n in bare.nodes) == 3
    assert len(bare.canonical().nodes) <= len(bare.nodes)


def test_samples_cover_the_decisions():
    space = search_spaces.get("skipunet")
    archs = sample_archs(space, 120, "random", seed=4)
    kinds = {parse_op(n.op).kind for a in archs for n in a.nodes}
    assert {"upconv", "upsample", "maxpool", "avgpool", "split", "depthwise", "pixels"} <= kinds
    ops = {n.op for a in archs for n in a.nodes}
    assert {"upbilinear", "upnearest", "upconv2x2"} <= ops
    assert all(a.dense for a in archs)
    assert len({a.hash() for a in archs}) > 100


@pytest.mark.parametrize(
    "options, message",
    [
        ({"levels": [3, 2]}, r"'levels' must be \[min, max\]"),
        ({"levels": [2, 5]}, r"allows 5 levels but 'widths' lists 4"),
        ({"ops": ["conv3x3", "maxpool2x2"]}, r"no choice of option 'ups'"),
        ({"widths": [[15], [32]], "levels": [2, 2]}, r"width 15 of level 0 is odd"),
        ({"skips": ["mul"]}, r"option skips\[0\] = 'mul' is not allowed"),
        ({"levels": [1, 2]}, r"option levels\[0\] = 1 is out of range"),
    ],
)
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(SpaceConfigError, match=message) as e:
        search_spaces.get("skipunet", **options)
    assert "\n" not in str(e.value)


def test_ops_narrow_the_blocks_and_ups():
    space = search_spaces.get("skipunet", ops=["conv3x3", "maxpool2x2", "upnearest"])
    for arch in sample_archs(space, 20, "random", seed=1):
        assert {n.op for n in arch.nodes} <= {"input", "conv3x3", "maxpool2x2", "upnearest", "identity", "pixels"}
