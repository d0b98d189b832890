"""Batched, device-side augmentation for the trainer's hot loop: random crop + horizontal flip."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def augment_batch(
    x: torch.Tensor, *, padding: int, flip: bool, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random crop with `padding` zero pixels per side and random horizontal flip, per image.

    One pad and one gather on x's own device, no loop over images: each image gets a random
    offset (dy, dx) in [0, 2*padding] into the padded batch and, if `flip`, a coin toss that
    reverses its column index. Random numbers come from `generator` (on its own device) for
    reproducibility. Returns a new contiguous NCHW tensor, or `x` itself when there is nothing
    to do (padding 0, no flip).

    Args:
        x: (N, C, H, W), any dtype; zero padding means 0 in x's units (the mean, once normalised).
    """
    if x.dim() != 4:
        raise ValueError(f"augment_batch expects x of shape (N, C, H, W), got {tuple(x.shape)}")
    if padding < 0:
        raise ValueError(f"augment_batch padding={padding} is negative; use 0 for no crop")
    if padding == 0 and not flip:
        return x
    n, c, h, w = x.shape
    dev = generator.device if generator is not None else x.device
    offsets = torch.randint(0, 2 * padding + 1, (2, n, 1), device=dev, generator=generator)
    offsets = offsets.to(x.device, non_blocking=True)
    src = F.pad(x, (padding, padding, padding, padding)) if padding else x
    hp, wp = h + 2 * padding, w + 2 * padding
    rows = offsets[0] + torch.arange(h, device=x.device)  # (N, H)
    cols = torch.arange(w, device=x.device).expand(n, w)  # (N, W)
    if flip:
        flips = torch.randint(0, 2, (n, 1), device=dev, generator=generator)
        flips = flips.to(x.device, non_blocking=True).bool()
        cols = torch.where(flips, (w - 1) - cols, cols)
    cols = offsets[1] + cols
    index = (rows[:, :, None] * wp + cols[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
    return src.reshape(n, c, hp * wp).gather(2, index).view(n, c, h, w)
