"""Conversions between Python values, ORM rows and the frozen records of `db._records`.

JSON columns are text written with sorted keys; timestamps are stored naive UTC and returned
aware; NaN metrics are stored as NULL (SQLite does so anyway, so every backend agrees).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any, overload

import sqlalchemy as sa

from db._models import (
    ArchitectureCostModel,
    ArchitectureModel,
    EpochMetricModel,
    EvaluationModel,
    SearchModel,
    TrialModel,
)
from db._records import (
    EPOCH_FIELDS,
    TRIAL_STATES,
    ArchitectureRecord,
    CostRecord,
    EpochRecord,
    EvaluationRecord,
    SearchRecord,
    TrialRecord,
)


def dumps(value: Any, what: str) -> str:
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} must be JSON-serialisable: {e}") from None


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@overload
def aware(value: dt.datetime) -> dt.datetime: ...
@overload
def aware(value: dt.datetime | None) -> dt.datetime | None: ...
def aware(value: dt.datetime | None) -> dt.datetime | None:
    """Stored timestamps are naive UTC; records carry aware ones."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def to_num(value: Any, what: str) -> float | None:
    """A float for a metric column; NaN is stored as NULL on every backend (SQLite would anyway)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    return None if math.isnan(number) else number


def to_int(value: Any, what: str) -> int | None:
    """An int for an optional integer column (None stays None); bools and floats are refused."""
    if value is None:
        return None
    return require_int(value, what)


def require_int(value: Any, what: str) -> int:
    """An int for a required integer (None, bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    return int(value)


def check_choice(value: str, valid: Sequence[str], what: str) -> str:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
    return value


def check_states(states: Iterable[str] | str | None) -> tuple[str, ...] | None:
    if states is None:
        return None
    if isinstance(states, str):
        states = (states,)
    states = tuple(states)
    for state in states:
        check_choice(state, TRIAL_STATES, "trial state")
    return states


def search_record(row: SearchModel) -> SearchRecord:
    return SearchRecord(
        id=row.id,
        name=row.name,
        space=row.space,
        space_options=loads(row.space_options),
        dataset=row.dataset,
        train_config=loads(row.train_config),
        objectives=tuple(loads(row.objectives)),
        config=loads(row.config),
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
        status=row.status,
        code_version=row.code_version,
        optuna_study_name=row.optuna_study_name,
        input_shape=search_shape(row),
        num_classes=row.num_classes,
    )


def search_shape(row: SearchModel) -> tuple[int, int, int] | None:
    c, h, w = row.input_channels, row.input_height, row.input_width
    return None if c is None or h is None or w is None else (c, h, w)


def check_shape(input_shape: Sequence[int], num_classes: int) -> tuple[tuple[int, int, int], int]:
    """A (C, H, W) of positive ints and a positive class count, or ValueError."""
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence) or len(input_shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width), got {input_shape!r}")
    c, h, w = (require_positive(v, "input_shape") for v in input_shape)
    return (c, h, w), require_positive(num_classes, "num_classes")


def require_positive(value: Any, what: str) -> int:
    number = require_int(value, what)
    if number < 1:
        raise ValueError(f"{what} must be positive, got {value!r}")
    return number


def cost_join(search: type[SearchModel] | SearchModel) -> sa.ColumnElement[bool]:
    """The ON clause matching the joined architecture's cost row for `search`'s input shape
    (the ORM class to join on its columns, or one row for its values); a search without a
    shape matches none (its NULLs equal nothing; a row's None becomes IS NULL, and the cost
    columns are never NULL)."""
    return sa.and_(
        ArchitectureCostModel.architecture_id == ArchitectureModel.id,
        ArchitectureCostModel.channels == search.input_channels,
        ArchitectureCostModel.height == search.input_height,
        ArchitectureCostModel.width == search.input_width,
        ArchitectureCostModel.num_classes == search.num_classes,
    )


def cost_record(row: ArchitectureCostModel, arch_hash: str) -> CostRecord:
    return CostRecord(
        arch_hash=arch_hash,
        input_shape=(row.channels, row.height, row.width),
        num_classes=row.num_classes,
        params=row.params,
        flops=row.flops,
    )


def arch_record(row: ArchitectureModel) -> ArchitectureRecord:
    return ArchitectureRecord(
        id=row.id,
        hash=row.hash,
        canonical_json=row.canonical_json,
        params=row.params,
        flops=row.flops,
        summary=loads(row.summary),
        created_at=aware(row.created_at),
    )


def trial_select() -> sa.Select[TrialModel, str, str, int, int]:
    """Trials with their search's name, architecture hash and cost for the search's shape
    (the architecture's own columns where that is not stored)."""
    return (
        sa.select(
            TrialModel,
            SearchModel.name,
            ArchitectureModel.hash,
            sa.func.coalesce(ArchitectureCostModel.params, ArchitectureModel.params),
            sa.func.coalesce(ArchitectureCostModel.flops, ArchitectureModel.flops),
        )
        .join(SearchModel, TrialModel.search_id == SearchModel.id)
        .outerjoin(ArchitectureModel, TrialModel.architecture_id == ArchitectureModel.id)
        .outerjoin(ArchitectureCostModel, cost_join(SearchModel))
    )


def trial_record(row: sa.Row[TrialModel, str, str, int, int]) -> TrialRecord:
    t: TrialModel = row[0]
    return TrialRecord(
        id=t.id,
        search_name=row[1],
        optuna_number=t.optuna_number,
        arch_hash=row[2],
        params=row[3],
        flops=row[4],
        state=t.state,
        train_config_key=t.train_config_key,
        val_accuracy=t.val_accuracy,
        val_loss=t.val_loss,
        best_val_accuracy=t.best_val_accuracy,
        test_accuracy_mean=t.test_accuracy_mean,
        test_accuracy_std=t.test_accuracy_std,
        test_seeds=t.test_seeds,
        epochs_run=t.epochs_run,
        train_seconds=t.train_seconds,
        images_per_second=t.images_per_second,
        started_at=aware(t.started_at),
        finished_at=aware(t.finished_at),
        worker=t.worker,
        device=t.device,
        error=t.error,
        duplicate_of=t.duplicate_of,
    )


def epoch_record(row: EpochMetricModel) -> EpochRecord:
    return EpochRecord(**{"trial_id": row.trial_id, **{f: getattr(row, f) for f in EPOCH_FIELDS}})


def evaluation_record(row: EvaluationModel, arch_hash: str, search: str | None) -> EvaluationRecord:
    return EvaluationRecord(
        id=row.id,
        arch_hash=arch_hash,
        search_name=search,
        seed=row.seed,
        test_accuracy=row.test_accuracy,
        test_loss=row.test_loss,
        epochs=row.epochs,
        train_config=loads(row.train_config),
        created_at=aware(row.created_at),
    )
