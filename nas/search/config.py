"""`SearchConfig`: everything that defines one named search, frozen and serialisable.

It is stored with the search, so a resumed search runs under the same definition. Fields
split into the *definition* (space, dataset, training; changing them needs a new name)
and the *budget/execution* (trials, time, concurrency; free to change on resume).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from nas.search.keep import DEFAULT as SAVE_WEIGHTS_DEFAULT
from nas.search.keep import SaveWeightsError, parse_save_weights
from workers.records import TrainConfig

#: Where a search and the read commands keep their database unless told otherwise (or $NAS_DB).
DEFAULT_DB = "sqlite:///nas.db"
#: The environment variable that, when set, replaces DEFAULT_DB for every command and `nas.search`.
DB_ENV = "NAS_DB"
#: The help text of every --db option.
DB_HELP = f"SQLAlchemy URL of the database (default: ${DB_ENV} if set, else {DEFAULT_DB})"


def default_db() -> str:
    """The database URL used when none is given: $NAS_DB if set (and not empty), else DEFAULT_DB.

    The one place that decides it: `SearchConfig.db` and every command's --db use it."""
    return os.environ.get(DB_ENV) or DEFAULT_DB


SAMPLERS = ("tpe", "random", "evolution", "cmaes", "nsga2", "gp", "qmc")
PRUNERS = ("asha", "hyperband", "median", "none")
#: Zero-cost proxies `--prescreen` can rank candidates with (workers.proxies).
PROXIES = ("naswot", "synflow", "params")
#: Most candidates `--prescreen` scores per trained trial.
MAX_PRESCREEN = 64
EXECUTORS = ("ray", "local")
#: --save-weights: top:K (the K best trials by validation; nas/search/keep.py), all or none
SAVE_WEIGHTS = (SAVE_WEIGHTS_DEFAULT, "all", "none")
#: the first objective is the search's score: val_accuracy, or val_miou for dense prediction (nas/search/tasks.py)
OBJECTIVES = {"val_accuracy": "maximize", "val_miou": "maximize", "params": "minimize", "flops": "minimize"}
SCORES = ("val_accuracy", "val_miou")
#: Fields that define what a search measures; a resumed search must keep them.
DEFINITION = ("space", "space_options", "dataset", "subset", "val_fraction", "image_size", "train", "objectives")


class ConfigError(ValueError):
    """A bad search option; the message names the value and the fix."""


def _doc(text: str) -> dict[str, str]:
    """Field metadata: the one-line help that `nas search --help` shows for a setting."""
    return {"help": text}


@dataclass(frozen=True)
class SearchConfig:
    """One named search. The field values are the defaults, stated here only.

    `nas search` builds one from its options (every option it does not get keeps the default
    below, and `--help` prints these defaults), and so does `nas.search(**options)`. `train` may
    be given as a dict of `TrainConfig` fields; it is parsed here, once, into a `TrainConfig`.
    """

    name: str | None = field(default=None, metadata=_doc("search name; reuse it to resume (default: SPACE-DATASET)"))
    db: str = field(default_factory=default_db, metadata=_doc(DB_HELP))
    # what to search
    space: str = field(default="skipdag", metadata=_doc("search space"))
    space_options: dict[str, Any] = field(default_factory=dict, metadata=_doc("options of the search space"))
    dataset: str = field(
        default="fashion-mnist",
        metadata=_doc(
            "fashion-mnist, mnist, cifar10, imagefolder:PATH, npz:PATH, synthetic; with masks (skipunet's default: "
            "fmnist-seg): fmnist-seg, imagefolder-seg:PATH, synthetic-seg"
        ),
    )
    data_dir: str | None = field(
        default=None, metadata=_doc("where the dataset files are (else NAS_DATA_DIR, standard places)")
    )
    subset: int | None = field(default=None, metadata=_doc("search on a stratified subset of this many images"))
    val_fraction: float = field(default=0.1, metadata=_doc("validation hold-out of the training split"))
    image_size: int | None = field(default=None, metadata=_doc("resize images to this size (imagefolder)"))
    # budget and strategy
    trials: int | None = field(default=20, metadata=_doc("total trials of the named search, resumes included"))
    time_budget: float | None = field(default=None, metadata=_doc("stop starting trials after this many seconds"))
    sampler: str = field(default="tpe", metadata=_doc(", ".join(SAMPLERS)))
    seed: int = field(default=0, metadata=_doc("seed of the sampler and the validation split"))
    objectives: tuple[str, ...] = field(
        default=("val_accuracy",),
        metadata=_doc("val_accuracy (val_miou for skipunet), or a list such as val_accuracy,params"),
    )
    train: TrainConfig = field(default_factory=TrainConfig, metadata=_doc("how each trial trains"))
    pruner: str = field(default="asha", metadata=_doc(", ".join(PRUNERS)))
    prescreen: int | None = field(
        default=None,
        metadata=_doc("score K candidates per trial with --proxy and train the best; the rest are recorded screened"),
    )
    proxy: str = field(default="naswot", metadata=_doc("zero-cost proxy of --prescreen: " + ", ".join(PROXIES)))
    # execution
    executor: str = field(default="ray", metadata=_doc("ray, or local (in-process, one trial at a time)"))
    concurrency: int | None = field(default=None, metadata=_doc("trials at once (default: what the resources allow)"))
    gpus_per_trial: float | None = field(
        default=None, metadata=_doc("e.g. 0.25 packs four trials per GPU (default: 1 where there are GPUs, else 0)")
    )
    cpus_per_trial: float = field(default=1.0, metadata=_doc("CPUs per trial"))
    address: str | None = field(default=None, metadata=_doc("Ray cluster address (default: start Ray on this machine)"))
    # constraints and artifacts
    max_params: int | None = field(default=None, metadata=_doc("architectures with more parameters are not trained"))
    max_flops: int | None = field(default=None, metadata=_doc("limit on multiply-accumulates per image"))
    save_weights: str = field(
        default=SAVE_WEIGHTS_DEFAULT,
        metadata=_doc("top:K keeps the weights of the K best trials by validation (export retrains others), all, none"),
    )
    # tracking (nas/search/tracking.py): copies of what the database records, free to change on resume
    tensorboard: str | None = field(
        default=None, metadata=_doc("write per-trial TensorBoard runs under this directory (needs nas[tensorboard])")
    )
    mlflow: str | None = field(
        default=None, metadata=_doc("log one MLflow run per trial to this tracking URI (needs nas[mlflow])")
    )

    def __post_init__(self) -> None:
        from nas.search.tasks import task_defaults

        object.__setattr__(self, "objectives", tuple(self.objectives))
        dataset, objectives = task_defaults(self.space, self.dataset, self.objectives)  # skipunet: fmnist-seg, val_miou
        object.__setattr__(self, "dataset", dataset)
        object.__setattr__(self, "objectives", objectives)
        if self.name is None:
            object.__setattr__(self, "name", f"{self.space}-{str(self.dataset).split(':')[0]}")
        if isinstance(self.train, dict):
            try:
                object.__setattr__(self, "train", TrainConfig.from_dict(self.train))
            except (TypeError, ValueError) as e:
                raise ConfigError(str(e)) from None
        self.validate()

    def validate(self) -> SearchConfig:
        """Raises ConfigError naming the bad value and the fix."""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}", self.name or ""):
            raise ConfigError(f"--name {self.name!r}: use letters, digits, '-', '_', '.' or ':' (at most 100)")
        _choice("--sampler", self.sampler, SAMPLERS)
        _choice("--pruner", self.pruner, PRUNERS)
        _choice("--proxy", self.proxy, PROXIES)
        if self.prescreen is not None and not 2 <= self.prescreen <= MAX_PRESCREEN:
            raise ConfigError(
                f"--prescreen {self.prescreen}: score from 2 to {MAX_PRESCREEN} candidates per trial, or leave it off"
            )
        _choice("--executor", self.executor, EXECUTORS)
        try:
            parse_save_weights(self.save_weights)
        except SaveWeightsError as e:
            raise ConfigError(str(e)) from None
        for obj in self.objectives:
            _choice("--objectives", obj, tuple(OBJECTIVES))
        from nas.search.tasks import check_loss, check_task

        problem = check_task(self.space, self.dataset, self.objectives)  # the score first; dataset fits the space
        problem = problem or check_loss(self.space, self.train.loss)
        if problem:
            raise ConfigError(problem)
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
        if not isinstance(self.train, TrainConfig):
            raise ConfigError(f"train must be a TrainConfig or a dict of its fields, got {self.train!r}")
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
        d = dataclasses.asdict(self)  # `train` becomes a dict of every TrainConfig field
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


def parse_duration(text: str, flag: str = "--time-budget") -> float:
    """'90', '90s', '30m', '1.5h', '1h30m' -> seconds. Raises ConfigError naming `flag`."""
    s = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", s)
    if not parts or "".join(a + b for a, b in parts) != s:
        raise ConfigError(f"{flag} {text!r}: use a duration like 90s, 30m, 2h or 1h30m")
    return sum(float(v) * {"h": 3600, "m": 60, "s": 1}[u] for v, u in parts)


def _choice(flag: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{flag} {value!r} is not one of: {', '.join(choices)}")


def _positive(flag: str, value: Any, types) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, types) or value <= 0:
        raise ConfigError(f"{flag} {value!r}: must be a positive number")
