"""The final protocol: train on the whole training split, then evaluate once on the test split.

The whole training split is the search's training part and its validation hold-out together
(the dataset is loaded with val_fraction=0). Used by `nas train`, `nas evaluate` and
`nas export --retrain`; the search never calls it, and the commands choose what to run it on by
validation accuracy, so the test split never influences which architecture is chosen.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from nas.ir import Arch
from workers.records import TrainConfig


@dataclass(frozen=True)
class FinalConfig:
    """The final protocol's settings. The field values are the defaults, stated here only; the
    commands `nas train`, `nas evaluate` and `nas export --retrain` and their Python functions
    take theirs from here."""

    epochs: int = field(default=30, metadata={"help": "epochs of each final training run"})
    seeds: int = field(default=3, metadata={"help": "runs per architecture (seeds 0..N-1)"})
    top: int = field(default=3, metadata={"help": "how many of the best architectures by validation"})

    @classmethod
    def train_config(cls, **overrides: Any) -> TrainConfig:
        """The `TrainConfig` of a final run: the trainer's defaults with the final epochs."""
        return TrainConfig.from_dict({"epochs": cls.epochs, **overrides})


@dataclass
class FinalResult:
    """A model trained with the final protocol and its test metrics."""

    model: object  # nn.Module
    test_accuracy: float
    test_loss: float
    train: dict  # TrainResult.to_dict() without history
    history: list[dict]
    dataset: str
    input_shape: tuple[int, int, int]
    num_classes: int
    seed: int

    def metrics(self) -> dict:
        """JSON-ready metrics (what `nas train` writes to metrics.json)."""
        return {
            "dataset": self.dataset,
            "seed": self.seed,
            "test_accuracy": self.test_accuracy,
            "test_loss": self.test_loss,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "train": self.train,
            "history": self.history,
        }


def final_train(
    arch: Arch,
    *,
    dataset: str = "fashion-mnist",
    data_dir: str | None = None,
    image_size: int | None = None,
    train: TrainConfig | None = None,
    seed: int = 0,
    progress: bool = False,
    data=None,
) -> FinalResult:
    """Train `arch` on the full training split of `dataset` and evaluate it on the test split.

    Args:
        train: how to train (default: `FinalConfig.train_config()`); `seed` overrides its seed.
        data: an already loaded `Dataset` with val_fraction=0 (reused across seeds).
    Raises:
        DatasetError, ValueError: bad dataset or training options (one-line messages), or
            `data` that still holds out a validation split.

    The model trains on `data.train`, the whole training split: the search's validation
    hold-out is part of it again, and nothing is evaluated during training. The test split is
    used once, after training, for the returned test accuracy and loss.
    """
    import torch

    from nas.ir import build
    from workers.datasets import load_dataset
    from workers.trainer import evaluate, resolve_device
    from workers.trainer import train as run_train

    config = dataclasses.replace(train or FinalConfig.train_config(), seed=seed)
    if data is None:
        data = load_dataset(dataset, data_dir=data_dir, image_size=image_size, val_fraction=0.0, seed=seed)
    if len(data.val) != 0:
        raise ValueError(
            f"the final protocol trains on the whole training split, but this {data.name!r} holds out "
            f"{len(data.val)} validation images; load it with val_fraction=0"
        )
    device = resolve_device(config.device)
    data = data.to(device) if not data.normalized else data
    torch.manual_seed(seed)
    model = build(arch, data.input_shape, data.num_classes)
    result = run_train(model, data, config, progress=progress)
    if result.status == "failed":
        raise RuntimeError(f"final training failed: {result.reason}")
    loss, acc = evaluate(model, data.test, batch_size=config.eval_batch_size, device=device)
    res = result.to_dict()
    history = res.pop("history")
    return FinalResult(
        model.to("cpu").eval(), acc, loss, res, history, data.name, data.input_shape, data.num_classes, seed
    )
