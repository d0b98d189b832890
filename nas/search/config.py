"""`SearchConfig`: everything that defines one named search, frozen and serialisable.

It is stored with the search, so a resumed search runs under the same definition. Fields
split into the *definition* (space, dataset, training; changing them needs a new name)
and the *budget/execution* (trials, time, concurrency; free to change on resume).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

SAMPLERS = ("tpe", "random", "cmaes", "nsga2", "gp", "qmc")
PRUNERS = ("asha", "median", "none")
EXECUTORS = ("ray", "local")
SAVE_WEIGHTS = ("all", "none")
OBJECTIVES = {"val_accuracy": "maximize", "params": "minimize", "flops": "minimize"}
#: Fields that define what a search measures; a resumed search must keep them.
DEFINITION = ("space", "space_options", "dataset", "subset", "val_fraction", "image_size", "train", "objectives")


class ConfigError(ValueError):
    """A bad search option; the message names the value and the fix."""


@dataclass(frozen=True)
class SearchConfig:
    """One named search. The defaults give a sensible small Fashion-MNIST search."""

    name: str = "skipdag-fashion-mnist"
    db: str = "sqlite:///nas.db"
    # what to search
    space: str = "skipdag"
    space_options: dict = field(default_factory=dict)
    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    subset: int | None = None  # train on a stratified subset of this many images
    val_fraction: float = 0.1
    image_size: int | None = None
    # budget and strategy
    trials: int | None = 20  # total for the named search, resumes included
    time_budget: float | None = None  # seconds of wall time for this run
    sampler: str = "tpe"
    seed: int = 0
    objectives: tuple[str, ...] = ("val_accuracy",)
    # per-trial budget: any `workers.trainer.TrainConfig` field (epochs, train_fraction, ...)
    train: dict = field(default_factory=lambda: {"epochs": 3})
    pruner: str = "asha"
    # execution
    executor: str = "ray"
    concurrency: int | None = None  # default: what the resources allow
    gpus_per_trial: float | None = None  # default: 1 where there are GPUs, else 0
    cpus_per_trial: float = 1.0
    address: str | None = None
    # constraints and artifacts
    max_params: int | None = None
    max_flops: int | None = None
    save_weights: str = "all"

    def __post_init__(self) -> None:
        object.__setattr__(self, "objectives", tuple(self.objectives))
        self.validate()

    def validate(self) -> SearchConfig:
        """Raises ConfigError naming the bad value and the fix."""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}", self.name or ""):
            raise ConfigError(f"--name {self.name!r}: use letters, digits, '-', '_', '.' or ':' (at most 100)")
        _choice("--sampler", self.sampler, SAMPLERS)
        _choice("--pruner", self.pruner, PRUNERS)
        _choice("--executor", self.executor, EXECUTORS)
        _choice("--save-weights", self.save_weights, SAVE_WEIGHTS)
        for obj in self.objectives:
            _choice("--objectives", obj, tuple(OBJECTIVES))
        if (
            not self.objectives
            or self.objectives[0] != "val_accuracy"
            or len(set(self.objectives)) != len(self.objectives)
        ):
            raise ConfigError(
                f"--objectives {','.join(self.objectives)!r}: start with val_accuracy, "
                "e.g. val_accuracy or val_accuracy,params"
            )
        if self.trials is None and self.time_budget is None:
            raise ConfigError("give a budget: --trials N and/or --time-budget (e.g. 30m)")
        _positive("--trials", self.trials, int)
        _positive("--time-budget", self.time_budget, (int, float))
        _positive("--subset", self.subset, int)
        _positive("--image-size", self.image_size, int)
        _positive("--concurrency", self.concurrency, int)
        _positive("--cpus-per-trial", self.cpus_per_trial, (int, float))
        _positive("--max-params", self.max_params, int)
        _positive("--max-flops", self.max_flops, int)
        if self.gpus_per_trial is not None and not 0 <= self.gpus_per_trial:
            raise ConfigError(
                f"--gpus-per-trial {self.gpus_per_trial}: use 0 (CPU), a fraction like 0.25, or a whole number"
            )
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"--val-fraction {self.val_fraction}: use a fraction in (0, 1), e.g. 0.1")
        if self.val_fraction == 0:
            raise ConfigError("--val-fraction 0: the search selects on a validation split; use e.g. 0.1")
        from workers.records import TrainConfig  # type-checks the training fields

        try:
            TrainConfig.from_dict(self.train)
        except (TypeError, ValueError) as e:
            raise ConfigError(str(e)) from None
        return self

    # ---- derived -------------------------------------------------------------------------
    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def definition(self) -> dict[str, Any]:
        """The fields a resumed search must keep (as JSON-ready values)."""
        d = self.to_dict()
        return {k: d[k] for k in DEFINITION}

    def train_config_key(self) -> str:
        """Identity of the training protocol: equal keys mean a result can be reused (dedupe)."""
        d = self.to_dict()
        payload = {k: d[k] for k in ("dataset", "subset", "val_fraction", "image_size", "train", "seed")}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    # ---- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["objectives"] = list(self.objectives)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        """Build from `to_dict` output; unknown keys are an error naming the key."""
        names = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key not in names:
                raise ConfigError(f"unknown search option {key!r}; valid: {', '.join(sorted(names))}")
        return cls(**data)


def parse_duration(text: str) -> float:
    """'90', '90s', '30m', '1.5h', '1h30m' -> seconds. Raises ConfigError."""
    s = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", s)
    if not parts or "".join(a + b for a, b in parts) != s:
        raise ConfigError(f"--time-budget {text!r}: use a duration like 90s, 30m, 2h or 1h30m")
    return sum(float(v) * {"h": 3600, "m": 60, "s": 1}[u] for v, u in parts)


def _choice(flag: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{flag} {value!r} is not one of: {', '.join(choices)}")


def _positive(flag: str, value: Any, types) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, types) or value <= 0:
        raise ConfigError(f"{flag} {value!r}: must be a positive number")
