"""Torch-free records that cross the process boundary between the driver and the workers.

`TrainConfig` (how to train), `TrialJob` (what a worker runs), `EpochMetrics` and `TrainResult`
(what training produced). Plain dataclasses with `to_dict()` / `from_dict()`, so they travel
through Ray and into the database as JSON without the trainer's code or torch.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

STATUSES = ("complete", "stopped", "failed", "timeout")
SCHEDULES = ("onecycle", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """How to train one model. The field values are the defaults.

    `lr` is the peak learning rate of the schedule: 'onecycle' ramps linearly from ~0 to `lr`
    over `warmup_fraction` of the steps, then linearly down to ~0; 'cosine' uses the same
    warm-up, then a half cosine down to ~0. `augment=None` takes the dataset's default.
    `max_seconds` caps the wall time: the run stops after the epoch that crosses it.
    `device='auto'` is CUDA when there is one, else the CPU; `bf16` and `cuda_graphs` apply on
    CUDA only (the CPU trains in fp32, eagerly).
    """

    epochs: int = 10
    batch_size: int = 256
    lr: float = 0.2
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    schedule: str = "onecycle"
    warmup_fraction: float = 0.2
    train_fraction: float = 1.0
    max_seconds: float | None = None
    augment: bool | None = None
    seed: int = 0
    device: str = "auto"
    cuda_graphs: bool = True
    eval_batch_size: int = 1024
    bf16: bool = True

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _check_type(f.name, getattr(self, f.name), hints[f.name])
            object.__setattr__(self, f.name, value)
        self._check_values()

    def _check_values(self) -> None:
        def bad(name: str, rule: str) -> ValueError:
            return ValueError(f"TrainConfig.{name}={getattr(self, name)!r} is invalid: {rule}")

        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise bad(name, "use an integer >= 1")
        if not self.lr > 0:
            raise bad("lr", "use a learning rate > 0")
        if not 0 <= self.momentum < 1:
            raise bad("momentum", "use a value in [0, 1)")
        if not self.weight_decay >= 0:
            raise bad("weight_decay", "use a value >= 0")
        if not 0 <= self.label_smoothing < 1:
            raise bad("label_smoothing", "use a value in [0, 1)")
        if self.schedule not in SCHEDULES:
            raise bad("schedule", f"use one of {', '.join(SCHEDULES)}")
        if not 0 <= self.warmup_fraction <= 1:
            raise bad("warmup_fraction", "use a value in [0, 1]")
        if not 0 < self.train_fraction <= 1:
            raise bad("train_fraction", "use a value in (0, 1]")
        if self.max_seconds is not None and not self.max_seconds >= 0:
            raise bad("max_seconds", "use a number of seconds >= 0, or None for no limit")
        if self.seed < 0:
            raise bad("seed", "use an integer >= 0")
        if not _is_device_name(self.device):
            raise bad("device", "use 'auto', 'cpu', 'cuda' or 'cuda:N'")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build a config from overrides; missing keys keep their defaults.

        Raises:
            ValueError: for an unknown key or a value out of range (the message names it).
            TypeError: for a value of the wrong type (the message names the key and type).
        """
        known = {f.name for f in dataclasses.fields(cls)}
        for key in d:
            if key not in known:
                raise ValueError(f"unknown TrainConfig key {key!r}; known keys: {', '.join(sorted(known))}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_type(name: str, value: Any, hint: Any) -> Any:
    """Return `value` (an int widened to float where a float is wanted) or raise TypeError."""
    is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    allowed = typing.get_args(hint) if is_union else (hint,)
    if value is None and type(None) in allowed:
        return None
    for t in allowed:
        if t is bool and isinstance(value, bool):
            return value
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if t is str and isinstance(value, str):
            return value
    want = " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
    raise TypeError(f"TrainConfig.{name} must be {want}, got {type(value).__name__} {value!r}")


def _is_device_name(name: str) -> bool:
    if name in ("auto", "cpu", "cuda", "mps"):
        return True
    head, _, index = name.partition(":")
    return head == "cuda" and index.isdigit()


@dataclass(frozen=True)
class EpochMetrics:
    """What one epoch produced. `epoch` counts from 1.

    `train_loss` is the mean optimised loss (with label smoothing) over the epoch's batches and
    `train_accuracy` is measured on the (augmented) training batches; `val_loss` is plain
    cross-entropy. The val fields are None when the dataset has no validation split.
    `seconds` is the epoch's wall time (training and evaluation); it is left out of `==` so
    that two runs of one seed compare equal. `lr` is the learning rate of the epoch's last step.
    """

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    seconds: float = field(compare=False)
    lr: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EpochMetrics:
        return cls(**d)


@dataclass
class TrainResult:
    """The outcome of `train`.

    status: 'complete' (all epochs), 'stopped' (the report callback asked to stop),
        'failed' (non-finite loss, or out of GPU memory) or 'timeout' (`max_seconds` passed).
    reason: why a run did not complete; None when it did.
    val_accuracy, val_loss: of the last completed epoch; None without a validation split.
    train_seconds: time spent in training steps only (no evaluation, no graph capture).
    images_per_second: training images per second of `train_seconds`.
    train_images: images trained on per epoch (`train_fraction` of the train split, rounded
        down to whole batches); steps: optimizer steps taken in all.
    cuda_graphs: whether the forward/backward ran as a CUDA graph.
    """

    status: Literal["complete", "stopped", "failed", "timeout"]
    reason: str | None
    val_accuracy: float | None
    val_loss: float | None
    best_val_accuracy: float | None
    epochs_run: int
    train_seconds: float
    images_per_second: float
    history: list[EpochMetrics]
    device: str
    train_images: int = 0
    steps: int = 0
    cuda_graphs: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["history"] = [m.to_dict() for m in self.history]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainResult:
        d = dict(d)
        d["history"] = [EpochMetrics.from_dict(m) for m in d.get("history", [])]
        return cls(**d)


@dataclass(frozen=True)
class TrialJob:
    """What a worker needs to run one trial (all plain data, cheap to ship)."""

    trial_id: int
    number: int
    arch_json: str
    train: dict  # `TrainConfig` fields
    save_weights: bool = True
    max_seconds: float | None = None  # what is left of the search's time budget
