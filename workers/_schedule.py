"""Learning-rate schedules as pure functions of the step (no optimizer, no state)."""

from __future__ import annotations

import math


def lr_at(step: int, total: int, *, peak: float, schedule: str, warmup_fraction: float) -> float:
    """The learning rate of 0-based optimizer step `step` out of `total`.

    Both schedules warm up linearly over the first `warmup_fraction` of the steps, ending at
    `peak`; then 'onecycle' falls linearly and 'cosine' along a half cosine, towards 0. The
    first and last steps get a small positive rate, never exactly 0 (a step at lr 0 is wasted).
    """
    if not 0 <= step < total:
        raise ValueError(f"step {step} is outside [0, {total})")
    warm = int(round(warmup_fraction * total))
    if step < warm:
        return peak * (step + 1) / warm
    t = (step - warm + 1) / (total - warm + 1)  # in (0, 1): progress through the decay
    if schedule == "onecycle":
        return peak * (1.0 - t)
    if schedule == "cosine":
        return peak * 0.5 * (1.0 + math.cos(math.pi * t))
    raise ValueError(f"unknown schedule {schedule!r}; use 'onecycle' or 'cosine'")
