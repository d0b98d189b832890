"""Zero-cost proxies: scores of an untrained network that predict how well it will train.

Each is computed at initialisation on one batch, in well under a second for the networks of
the default space on a CPU:

- ``naswot`` (Mellor et al. 2021, "Neural Architecture Search without Training"): the log
  determinant of the kernel of the binary ReLU codes of a batch. Networks whose ReLUs separate
  the inputs of a batch well score high.
- ``synflow`` (Tanaka et al. 2020; as a NAS proxy, Abdelfattah et al. 2021): the sum over
  parameters of |theta * dR/dtheta| with every weight made positive and an all-ones input,
  R the sum of the outputs (in float64, BatchNorm at its initial running statistics).
- ``params``: the number of parameters, the baseline every proxy must beat (NAS-Bench-201's
  Spearman anchors: synflow 0.74, params 0.75).

Higher is better for all three.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import nn

__all__ = ["PROXIES", "naswot", "params", "score", "synflow"]


def naswot(model: nn.Module, x: torch.Tensor) -> float:
    """log|K| of the ReLU-code kernel: K[i, j] = number of ReLUs on which inputs i and j agree."""
    model = copy.deepcopy(model)  # train mode updates BatchNorm's running statistics: not the caller's
    kernel: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: object, out: torch.Tensor) -> None:
        c = (out.detach() > 0).flatten(1).float()  # per layer: exact counts in float32
        k = c @ c.T + (1 - c) @ (1 - c).T
        kernel.append(k.double())

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    model.train()  # the paper's setting: batch statistics, as in training
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    if not kernel:
        return 0.0
    sign, logdet = torch.linalg.slogdet(torch.stack(kernel).sum(0))
    return float(logdet) if float(sign) > 0 else -math.inf


def synflow(model: nn.Module, x: torch.Tensor) -> float:
    """sum |theta * dR/dtheta| for R = sum of the outputs of the network with |weights| on ones."""
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad()
    ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)
    net(ones).sum().backward()
    total = sum(float((p.detach() * p.grad).abs().sum()) for p in net.parameters() if p.grad is not None)
    return total


def params(model: nn.Module, x: torch.Tensor) -> float:
    """The number of trainable parameters."""
    return float(sum(p.numel() for p in model.parameters() if p.requires_grad))


PROXIES: dict[str, Callable[[nn.Module, torch.Tensor], float]] = {
    "naswot": naswot,
    "synflow": synflow,
    "params": params,
}


def score(name: str, model: nn.Module, x: torch.Tensor) -> float:
    """The proxy `name` of `model` on the batch `x` (higher is better).

    Raises:
        ValueError: unknown proxy (the message lists them).
    """
    if name not in PROXIES:
        raise ValueError(f"unknown proxy {name!r}; proxies: {', '.join(PROXIES)}")
    return PROXIES[name](model, x)
