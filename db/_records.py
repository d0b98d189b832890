"""Frozen records returned by the `Store`.

ORM rows never leave `db`; every public method of the store returns one of these plain values
(or a list of them). Timestamps are timezone-aware UTC datetimes. JSON columns are decoded:
`dict`/`list` fields hold the parsed JSON.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

# Lifecycle of one search (one named Optuna study plus its rows here).
SEARCH_STATUSES: tuple[str, ...] = ("running", "finished", "interrupted", "failed")

# Lifecycle of one trial. 'running' is the only non-terminal state.
#   complete    trained to the end (or stopped by its own early-stopping rule) with a result
#   pruned      stopped early by the search's pruner (ASHA); its partial result is kept
#   failed      training raised; `error` holds the one-line reason
#   duplicate   same canonical architecture and training config as an earlier completed trial;
#               not trained, `duplicate_of` points at the trial whose result it reuses
#   infeasible  over a params/FLOPs limit; not trained, `error` says which limit
#   interrupted left 'running' by a driver that died; closed by `Store.mark_interrupted`
TRIAL_STATES: tuple[str, ...] = (
    "running",
    "complete",
    "pruned",
    "failed",
    "duplicate",
    "infeasible",
    "interrupted",
    "screened",  # scored by a zero-cost proxy and not trained (`--prescreen`)
)
# States a trial can be closed with.
FINISHED_TRIAL_STATES: tuple[str, ...] = tuple(s for s in TRIAL_STATES if s != "running")
# Closed trials that count against a search's `--trials` budget: an interrupted trial is
# sampled again on resume, so it does not.
BUDGET_TRIAL_STATES: tuple[str, ...] = tuple(s for s in FINISHED_TRIAL_STATES if s not in ("interrupted", "screened"))

# Leaderboard sort keys -> True when larger is better.
SORT_KEYS: dict[str, bool] = {
    "val_accuracy": True,
    "test_accuracy": True,
    "params": False,
    "flops": False,
    "train_seconds": False,
}


@dataclasses.dataclass(frozen=True)
class SearchRecord:
    """One named search as stored.

    `input_shape` (C, H, W) and `num_classes` are those of the search's data, which the
    architectures' params and FLOPs in its leaderboard are counted for; None until the driver
    records them (`Store.set_search_shape`), or for a search from before they were kept.
    """

    id: int
    name: str
    space: str
    space_options: dict[str, Any]
    dataset: str
    train_config: dict[str, Any]
    objectives: tuple[str, ...]
    config: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    status: str
    code_version: str
    optuna_study_name: str
    input_shape: tuple[int, int, int] | None = None
    num_classes: int | None = None


@dataclasses.dataclass(frozen=True)
class SearchOverview:
    """One line of `Store.list_searches`.

    `counts` maps every trial state in `TRIAL_STATES` to its number of trials (0 included), so
    duplicates and infeasible samples are countable even though they are not leaderboard rows.
    """

    name: str
    space: str
    dataset: str
    created_at: dt.datetime
    updated_at: dt.datetime
    status: str
    counts: dict[str, int]
    n_trials: int
    best_val_accuracy: float | None
    best_test_accuracy: float | None  # the test accuracy of the best trial by validation, not the best test


@dataclasses.dataclass(frozen=True)
class ArchitectureRecord:
    """One canonical architecture, shared by every search that sampled it.

    `params` and `flops` are those for the input shape of the search that first stored it;
    `Store.costs(hash)` has them per input shape.
    """

    id: int
    hash: str
    canonical_json: str
    params: int
    flops: int
    summary: dict[str, Any]
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class CostRecord:
    """An architecture's parameters and multiply-accumulates for one input shape and class count."""

    arch_hash: str
    input_shape: tuple[int, int, int]
    num_classes: int
    params: int
    flops: int


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """One trial (one Optuna trial number of one search).

    `arch_hash`, `params` and `flops` come from the joined architecture (None when the trial
    has none); params and FLOPs are those for its search's input shape where stored (see
    `CostRecord`), else the architecture's own columns. `duplicate_of` is the id of the trial
    whose result a duplicate reuses.
    `test_accuracy_mean/std/seeds` are aggregated from the architecture's final evaluations.
    """

    id: int
    search_name: str
    optuna_number: int
    arch_hash: str | None
    params: int | None
    flops: int | None
    state: str
    train_config_key: str
    val_accuracy: float | None
    val_loss: float | None
    best_val_accuracy: float | None
    test_accuracy_mean: float | None
    test_accuracy_std: float | None
    test_seeds: int
    epochs_run: int | None
    train_seconds: float | None
    images_per_second: float | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    worker: str | None
    device: str | None
    error: str | None
    duplicate_of: int | None


@dataclasses.dataclass(frozen=True)
class EpochRecord:
    """Metrics of one epoch of one trial."""

    trial_id: int
    epoch: int
    train_loss: float | None
    train_accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    seconds: float | None
    lr: float | None


# Keys `Store.add_epoch` accepts in its metrics dict ('epoch' is required).
EPOCH_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(EpochRecord) if f.name != "trial_id")


@dataclasses.dataclass(frozen=True)
class ArtifactRecord:
    """An artifact's description, without its bytes (use `Store.get_artifact` for those)."""

    id: int
    trial_id: int
    kind: str
    format: str
    sha256: str
    size: int
    created_at: dt.datetime
    meta: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class EvaluationRecord:
    """One final evaluation run (one seed) of an architecture on the test split."""

    id: int
    arch_hash: str
    search_name: str | None
    seed: int
    test_accuracy: float
    test_loss: float | None
    epochs: int
    train_config: dict[str, Any]
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class LeaderboardRow:
    """One row of `Store.leaderboard`.

    `trial` is the Optuna trial number within `search`; `test_accuracy` is the mean over the
    final evaluation seeds (`test_seeds` of them) and `test_std` their sample standard deviation
    (None with fewer than two seeds). `params` and `flops` are for `search`'s input shape and
    class count where stored, else the architecture's own (first search's) columns.
    """

    rank: int
    search: str
    trial: int
    hash: str
    val_accuracy: float | None
    best_val_accuracy: float | None
    test_accuracy: float | None
    test_std: float | None
    test_seeds: int
    params: int
    flops: int
    epochs_run: int | None
    train_seconds: float | None
    state: str
    summary: dict[str, Any]
    canonical_json: str
