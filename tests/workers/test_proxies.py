"""Zero-cost proxies against closed forms, and on compiled networks of the space."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from workers.proxies import PROXIES, naswot, score, synflow


def test_naswot_is_the_log_determinant_of_the_code_kernel():
    x = torch.tensor([[1.0, -1.0, 2.0], [-1.0, -1.0, 3.0], [1.0, 1.0, -1.0]])
    codes = (x > 0).double()
    k = codes @ codes.T + (1 - codes) @ (1 - codes).T  # agreements between inputs i and j
    assert naswot(nn.Sequential(nn.ReLU()), x) == pytest.approx(math.log(torch.linalg.det(k).item()))


def test_naswot_of_identical_codes_is_minus_infinity():
    x = torch.ones(4, 3)  # every input has the same code: a singular kernel
    assert naswot(nn.Sequential(nn.ReLU()), x) == -math.inf


def test_synflow_of_a_two_layer_linear_net_is_twice_its_path_norm():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4, bias=False), nn.Linear(4, 3, bias=False))
    w1, w2 = (m.weight.detach().abs().double() for m in net)
    path_norm = float(torch.ones(3, dtype=torch.float64) @ w2 @ w1 @ torch.ones(5, dtype=torch.float64))
    # each layer's sum |w * dR/dw| is the whole path norm R
    assert synflow(net, torch.randn(2, 5)) == pytest.approx(2 * path_norm)
    assert all(p.min() < 0 for p in net.parameters())  # the network itself is left unchanged


def test_every_proxy_scores_a_compiled_preset():
    from nas.ir import build
    from search_spaces.presets import preset

    model = build(preset("resnet18", (1, 28, 28)), (1, 28, 28), 10)
    x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    for name in PROXIES:
        value = score(name, model, x)
        assert math.isfinite(value) and value > 0, (name, value)
    with pytest.raises(ValueError, match="unknown proxy 'snip'"):
        score("snip", model, x)
