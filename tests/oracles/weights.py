"""Copy a reference network's weights into ours, and compare outputs with the same weights."""

from __future__ import annotations

import torch
from torch import nn


def copy_weights(src: nn.Module, dst: nn.Module) -> None:
    """Copy every parameter and buffer of `src` into `dst`, pairing them in registration
    (state_dict) order; each pair must have the same shape."""
    a, b = src.state_dict(), dst.state_dict()
    assert len(a) == len(b), f"{len(a)} tensors in the reference, {len(b)} in ours"
    new = {}
    for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True):
        assert va.shape == vb.shape, f"reference {ka} {tuple(va.shape)} pairs with our {kb} {tuple(vb.shape)}"
        new[kb] = va.clone()
    dst.load_state_dict(new)


def max_abs_diff(a: nn.Module, b: nn.Module, x: torch.Tensor, *, train: bool) -> float:
    """The largest absolute difference of the two outputs for `x`, both in train or eval mode,
    with the same random state before each forward (so dropout draws the same masks)."""
    outs = []
    for m in (a, b):
        m.train(train)
        torch.manual_seed(0)
        with torch.no_grad():
            outs.append(m(x.clone()))
    return float((outs[0] - outs[1]).abs().max())
