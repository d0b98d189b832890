"""Torch-free records that cross the process boundary between the driver and the workers.

`TrainConfig` (how to train), `TrialJob` (what a worker runs), `EpochMetrics` and `TrainResult`
(what training produced). Plain dataclasses with `to_dict()` / `from_dict()`, so they travel
through Ray and into the database as JSON without the trainer's code or torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

STATUSES = ("complete", "stopped", "failed", "timeout")
SCHEDULES = ("onecycle", "cosine")
#: training losses: cross-entropy; for dense prediction also soft Dice, or both (`workers.dense`)
LOSSES = ("ce", "dice", "ce+dice")


def _doc(text: str) -> dict[str, str]:
    """Field metadata: the one-line help that `--help` and the docs show for a setting."""
    return {"help": text}


@dataclass(frozen=True)
class TrainConfig:
    """How to train one model. The field values are the defaults, stated here only.

    They are a search trial's defaults; the final protocol overrides `epochs` (see
    `nas.final.protocol.FinalConfig`). `lr` is the peak learning rate of the schedule:
    'onecycle' ramps linearly from ~0 to `lr` over `warmup_fraction` of the steps, then linearly
    down to ~0; 'cosine' uses the same warm-up, then a half cosine down to ~0.
    """

    epochs: int = field(default=3, metadata=_doc("epochs of training"))
    batch_size: int = field(default=256, metadata=_doc("training batch size"))
    lr: float = field(default=0.2, metadata=_doc("peak learning rate of the schedule"))
    momentum: float = field(default=0.9, metadata=_doc("SGD momentum"))
    nesterov: bool = field(default=True, metadata=_doc("Nesterov momentum"))
    weight_decay: float = field(default=5e-4, metadata=_doc("weight decay (not on biases and norms)"))
    label_smoothing: float = field(default=0.1, metadata=_doc("label smoothing of the training loss"))
    schedule: str = field(default="onecycle", metadata=_doc("learning-rate schedule: onecycle or cosine"))
    warmup_fraction: float = field(default=0.2, metadata=_doc("fraction of the steps spent warming up"))
    train_fraction: float = field(default=1.0, metadata=_doc("fraction of the training split each run uses"))
    max_seconds: float | None = field(
        default=None, metadata=_doc("wall-time cap: the run stops after the epoch that crosses it")
    )
    augment: bool | None = field(default=None, metadata=_doc("random crops and flips (None: the dataset's default)"))
    seed: int = field(default=0, metadata=_doc("seed of the initialisation, data order and augmentation"))
    device: str = field(default="auto", metadata=_doc("auto (CUDA when there is one), cpu, cuda or cuda:N"))
    cuda_graphs: bool = field(default=True, metadata=_doc("capture the training step as a CUDA graph (CUDA only)"))
    eval_batch_size: int = field(default=1024, metadata=_doc("batch size of evaluation"))
    bf16: bool = field(default=True, metadata=_doc("bf16 autocast (CUDA only; the CPU trains in fp32)"))
    loss: str = field(
        default="ce", metadata=_doc("training loss: ce; for segmentation also dice or ce+dice (per pixel)")
    )

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
        if self.loss not in LOSSES:
            raise bad("loss", f"use one of {', '.join(LOSSES)} (dice: segmentation only)")

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
    """What a worker needs to run one trial (plain data, cheap to ship).

    `train.seed` is the trial's own seed (`trial_seed(search seed, trial number)`): with the same
    `threads`, a trial gives the same numbers in-process and on Ray.
    """

    trial_id: int
    number: int
    arch_json: str
    train: TrainConfig
    save_weights: bool = True
    max_seconds: float | None = None  # what is left of the search's time budget
    threads: int | None = None  # torch's intra-op threads for this trial (None: leave as is)

    def train_config(self) -> TrainConfig:
        """`train`, with its wall-time cap lowered to what is left of the search's budget."""
        if self.max_seconds is None:
            return self.train
        cap = self.train.max_seconds
        return dataclasses.replace(
            self.train, max_seconds=self.max_seconds if cap is None else min(cap, self.max_seconds)
        )


def trial_seed(search_seed: int, number: int) -> int:
    """The seed of trial `number` of a search seeded `search_seed`: distinct per trial, the same
    on every run and machine (a hash, so neighbouring trials' streams are unrelated)."""
    digest = hashlib.sha256(f"nas-trial:{search_seed}:{number}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class TrialOutcome:
    """What a worker returns for one trial; every fault becomes a 'failed' outcome with a reason.

    status: 'complete' | 'stopped' (pruned by the driver) | 'timeout' (a wall-time cap) | 'failed'.
    weights: safetensors bytes of the trained model, or None.
    """

    status: str
    reason: str | None = None
    val_accuracy: float | None = None
    val_loss: float | None = None
    best_val_accuracy: float | None = None
    epochs_run: int = 0
    train_seconds: float | None = None
    images_per_second: float | None = None
    device: str | None = None
    worker: str | None = None
    weights: bytes | None = None
    traceback: str | None = None

    @classmethod
    def failed(cls, reason: str, **fields: Any) -> TrialOutcome:
        return cls(status="failed", reason=reason, **fields)

    @classmethod
    def from_result(cls, result: TrainResult, **fields: Any) -> TrialOutcome:
        """The outcome of a finished `train` call (its history stays with the epoch events)."""
        return cls(
            status=result.status,
            reason=result.reason,
            val_accuracy=result.val_accuracy,
            val_loss=result.val_loss,
            best_val_accuracy=result.best_val_accuracy,
            epochs_run=result.epochs_run,
            train_seconds=result.train_seconds,
            images_per_second=result.images_per_second,
            device=result.device,
            **fields,
        )

    def metrics(self) -> dict[str, Any]:
        """The fields the trial's database row records."""
        keys = ("val_accuracy", "val_loss", "best_val_accuracy", "epochs_run", "train_seconds", "images_per_second")
        return {k: getattr(self, k) for k in keys} | {"worker": self.worker, "device": self.device}
