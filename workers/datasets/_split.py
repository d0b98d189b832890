"""Deterministic stratified splits, per-channel statistics and resizing of uint8 image tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F

TEST_HOLDOUT_SEED = 0  # a held-out test split never changes with the search seed


def stratified_counts(counts: torch.Tensor, k: int) -> torch.Tensor:
    """How many of each class to pick so that they sum to `k` and keep the class proportions.

    Largest-remainder rounding of `counts * k / counts.sum()`; ties go to the lower class.
    """
    total = int(counts.sum())
    if total == 0 or k <= 0:
        return torch.zeros_like(counts)
    k = min(k, total)
    exact = counts.double() * k / total
    base = exact.floor().long()
    short = k - int(base.sum())
    if short:
        frac = exact - base.double()
        # stable sort by descending remainder keeps ties in class order
        order = torch.sort(-frac, stable=True).indices
        base[order[:short]] += 1
    return torch.minimum(base, counts)


def stratified_pick(y: torch.Tensor, k: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of a class-stratified random `k`-subset of `y` and of the rest, both sorted."""
    n = int(y.shape[0])
    if n == 0:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, empty
    counts = torch.bincount(y, minlength=int(y.max()) + 1)
    quota = stratified_counts(counts, k)
    # order by (class, random key): the first quota[c] of each class's run are picked
    keys = torch.rand(n, generator=generator)
    order = torch.argsort(keys)
    order = order[torch.argsort(y[order], stable=True)]
    ys = y[order]
    start = torch.cumsum(counts, 0) - counts
    rank = torch.arange(n) - start[ys]
    picked = rank < quota[ys]
    return order[picked].sort().values, order[~picked].sort().values


def holdout(
    x: torch.Tensor, y: torch.Tensor, fraction: float, seed: int = TEST_HOLDOUT_SEED
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split (x, y) into (x_keep, y_keep, x_out, y_out) with a stratified `fraction` held out."""
    g = torch.Generator().manual_seed(seed)
    out, keep = stratified_pick(y, round(len(y) * fraction), g)
    return x[keep], y[keep], x[out], y[out]


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images (N, C, H, W), in [0, 1] units.

    Exact, from a 256-bin histogram per channel, so no float copy of the data is made. A
    constant channel gets std 1 (normalising it must not divide by zero).
    """
    values = torch.arange(256, dtype=torch.float64) / 255.0
    means, stds = [], []
    for c in range(x.shape[1]):
        hist = torch.bincount(x[:, c].reshape(-1), minlength=256).double()
        n = hist.sum().clamp_min(1.0)
        mean = float((hist * values).sum() / n)
        var = float((hist * values.square()).sum() / n) - mean * mean
        std = max(var, 0.0) ** 0.5
        means.append(mean)
        stds.append(std if std > 1e-6 else 1.0)
    return tuple(means), tuple(stds)


def resize_uint8(x: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """Bilinearly resize uint8 images (N, C, H, W) to (N, C, size, size), antialiased."""
    if x.shape[-2:] == (size, size):
        return x
    out = torch.empty((x.shape[0], x.shape[1], size, size), dtype=torch.uint8)
    for i in range(0, x.shape[0], chunk):
        part = F.interpolate(
            x[i : i + chunk].float(),
            size=(size, size),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )
        out[i : i + chunk] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out
