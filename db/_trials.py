"""Architectures (one row per hash), trials (one per Optuna trial of a search) and their epochs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypedDict, Unpack

import sqlalchemy as sa
from sqlalchemy.orm import Session

from db._base import StoreBase
from db._convert import (
    arch_record,
    check_choice,
    check_shape,
    check_states,
    cost_join,
    cost_record,
    dumps,
    epoch_record,
    require_int,
    to_int,
    to_num,
    trial_record,
    trial_select,
)
from db._errors import AmbiguousHashError
from db._models import (
    ArchitectureCostModel,
    ArchitectureModel,
    EpochMetricModel,
    SearchModel,
    TrialModel,
    utcnow,
)
from db._records import (
    EPOCH_FIELDS,
    FINISHED_TRIAL_STATES,
    ArchitectureRecord,
    CostRecord,
    EpochRecord,
    TrialRecord,
)


class _TrialResult(TypedDict, total=False):
    """The result fields `finish_trial` and `record_trial` take (keywords, each optional)."""

    val_accuracy: float | None
    val_loss: float | None
    best_val_accuracy: float | None
    epochs_run: int | None
    train_seconds: float | None
    images_per_second: float | None
    error: str | None
    duplicate_of: int | None
    worker: str | None
    device: str | None


class Trials(StoreBase):
    """The `Store`'s methods for architectures, trials and their epochs."""

    # architectures

    def upsert_architecture(
        self,
        hash: str,
        canonical_json: str,
        params: int,
        flops: int,
        summary: dict[str, Any],
        *,
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
    ) -> ArchitectureRecord:
        """Store an architecture once per hash; later calls return the stored row unchanged.

        With `input_shape` and `num_classes` (the shape `params` and `flops` were counted for),
        also record them as its cost for that shape (`add_cost`), in the same transaction:
        a later search on other data then gets its own row while this one is kept.
        """
        if not isinstance(hash, str) or not hash or len(hash) > 64:
            raise ValueError(f"architecture hash must be a string of 1-64 characters, got {hash!r}")
        params = require_int(params, "params")
        flops = require_int(flops, "flops")
        shape = None
        if input_shape is not None or num_classes is not None:
            if input_shape is None or num_classes is None:
                raise ValueError("give input_shape and num_classes together")
            shape = check_shape(input_shape, num_classes)
        with self._session() as s:
            row = s.scalar(sa.select(ArchitectureModel).where(ArchitectureModel.hash == hash))
            if row is None:
                row = ArchitectureModel(
                    hash=hash,
                    canonical_json=canonical_json,
                    params=params,
                    flops=flops,
                    summary=dumps(summary, "summary"),
                )
                s.add(row)
                s.flush()
            if shape is not None:
                self._add_cost(s, row, shape[0], shape[1], params, flops)
            return arch_record(row)

    # costs per input shape

    def add_cost(
        self, arch_hash: str, input_shape: Sequence[int], num_classes: int, params: int, flops: int
    ) -> CostRecord:
        """Record an architecture's params and FLOPs for input shape (C, H, W) and `num_classes`
        (once: a later call returns the stored row, as costs are a function of the three).

        Raises:
            NotFoundError: no architecture with that hash (call `upsert_architecture` first).
            ValueError: a shape, class count, params or FLOPs that are not integers (> 0 for
                the shape and classes).
        """
        shape, classes = check_shape(input_shape, num_classes)
        params = require_int(params, "params")
        flops = require_int(flops, "flops")
        with self._session() as s:
            return self._add_cost(s, self._arch(s, arch_hash), shape, classes, params, flops)

    def _add_cost(
        self, s: Session, arch: ArchitectureModel, shape: tuple[int, int, int], classes: int, params: int, flops: int
    ) -> CostRecord:
        c, h, w = shape
        row = s.scalar(
            sa.select(ArchitectureCostModel).where(
                ArchitectureCostModel.architecture_id == arch.id,
                ArchitectureCostModel.channels == c,
                ArchitectureCostModel.height == h,
                ArchitectureCostModel.width == w,
                ArchitectureCostModel.num_classes == classes,
            )
        )
        if row is None:
            row = ArchitectureCostModel(
                architecture_id=arch.id, channels=c, height=h, width=w, num_classes=classes, params=params, flops=flops
            )
            s.add(row)
            s.flush()
        return cost_record(row, arch.hash)

    def get_cost(self, arch_hash: str, input_shape: Sequence[int], num_classes: int) -> CostRecord | None:
        """The architecture's stored cost for this shape and class count; None when not stored."""
        (c, h, w), classes = check_shape(input_shape, num_classes)
        with self._session() as s:
            row = s.execute(
                sa.select(ArchitectureCostModel, ArchitectureModel.hash)
                .join(ArchitectureModel, ArchitectureCostModel.architecture_id == ArchitectureModel.id)
                .where(
                    ArchitectureModel.hash == arch_hash,
                    ArchitectureCostModel.channels == c,
                    ArchitectureCostModel.height == h,
                    ArchitectureCostModel.width == w,
                    ArchitectureCostModel.num_classes == classes,
                )
            ).first()
            return None if row is None else cost_record(row[0], row[1])

    def costs(self, arch_hash: str) -> list[CostRecord]:
        """The architecture's stored costs, one per input shape and class count, oldest first."""
        with self._session() as s:
            rows = s.execute(
                sa.select(ArchitectureCostModel, ArchitectureModel.hash)
                .join(ArchitectureModel, ArchitectureCostModel.architecture_id == ArchitectureModel.id)
                .where(ArchitectureModel.hash == arch_hash)
                .order_by(ArchitectureCostModel.id)
            ).all()
            return [cost_record(r[0], r[1]) for r in rows]

    def architectures_without_cost(self, search_name: str) -> list[ArchitectureRecord]:
        """The architectures of the search's trials with no cost stored for its input shape
        (e.g. trials recorded before costs were kept per shape), by hash; empty when the
        search's shape is not recorded (`set_search_shape`). Count them and `add_cost` each.

        Raises:
            NotFoundError: no search of that name.
        """
        with self._session() as s:
            search = self._search(s, search_name)
            if search.input_channels is None or search.num_classes is None:
                return []
            used = sa.select(TrialModel.architecture_id).where(TrialModel.search_id == search.id)
            rows = s.scalars(
                sa.select(ArchitectureModel)
                .outerjoin(ArchitectureCostModel, cost_join(search))
                .where(ArchitectureModel.id.in_(used), ArchitectureCostModel.id.is_(None))
                .order_by(ArchitectureModel.hash)
            ).all()
            return [arch_record(r) for r in rows]

    def get_architecture(self, hash_or_prefix: str) -> ArchitectureRecord | None:
        """The architecture with this hash, or the only one whose hash starts with it.

        Raises:
            AmbiguousHashError: the prefix matches several hashes (they are named).
        """
        if not isinstance(hash_or_prefix, str) or not hash_or_prefix:
            raise ValueError(f"give a hash or hash prefix, got {hash_or_prefix!r}")
        with self._session() as s:
            exact = s.scalar(sa.select(ArchitectureModel).where(ArchitectureModel.hash == hash_or_prefix))
            if exact is not None:
                return arch_record(exact)
            escaped = hash_or_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            rows = s.scalars(
                sa.select(ArchitectureModel)
                .where(ArchitectureModel.hash.like(escaped + "%", escape="\\"))
                .order_by(ArchitectureModel.hash)
                .limit(51)
            ).all()
            if not rows:
                return None
            if len(rows) > 1:
                raise AmbiguousHashError(hash_or_prefix, [r.hash for r in rows])
            return arch_record(rows[0])

    # trials

    def start_trial(
        self,
        search_name: str,
        optuna_number: int,
        arch_hash: str | None,
        train_config_key: str,
        worker: str | None = None,
        device: str | None = None,
    ) -> int:
        """Record a trial as 'running' and return its id.

        Raises:
            NotFoundError: unknown search or architecture hash.
            ValueError: this Optuna number is already recorded for the search.
        """
        trial = (search_name, optuna_number, arch_hash, train_config_key)
        return self._insert_trial(trial, None, worker=worker, device=device)

    def finish_trial(self, trial_id: int, state: str, **result: Unpack[_TrialResult]) -> TrialRecord:
        """Close a trial with a final state; fields left None keep their stored value.

        When not given, `epochs_run` defaults to the number of recorded epochs and
        `best_val_accuracy` to the best recorded epoch's val accuracy.
        """
        check_choice(state, FINISHED_TRIAL_STATES, "final trial state")
        with self._session() as s:
            row = self._trial(s, trial_id)
            self._apply_result(s, row, state, **result)
            s.flush()
            return trial_record(s.execute(trial_select().where(TrialModel.id == row.id)).one())

    def record_trial(
        self,
        search_name: str,
        optuna_number: int,
        arch_hash: str | None,
        train_config_key: str,
        state: str,
        **result: Unpack[_TrialResult],
    ) -> int:
        """Start and finish a trial in one transaction (duplicates, infeasible samples).

        A 'duplicate' needs `duplicate_of` (the id of the trial whose result it reuses); its
        val metrics and epochs default to that trial's. Returns the new trial's id.
        """
        check_choice(state, FINISHED_TRIAL_STATES, "final trial state")
        return self._insert_trial((search_name, optuna_number, arch_hash, train_config_key), state, **result)

    def _insert_trial(
        self, trial: tuple[str, int, str | None, str], state: str | None, **result: Unpack[_TrialResult]
    ) -> int:
        """Insert trial (search name, Optuna number, architecture hash, train config key) as 'running';
        given a final `state`, finish it with `result` in the same transaction."""
        search_name, optuna_number, arch_hash, train_config_key = trial
        optuna_number = require_int(optuna_number, "optuna_number")
        if not isinstance(train_config_key, str) or not train_config_key:
            raise ValueError(f"train_config_key must be a non-empty string, got {train_config_key!r}")
        with self._session() as s:
            search = self._search(s, search_name)
            arch_id = None if arch_hash is None else self._arch(s, arch_hash).id
            clash = s.scalar(
                sa.select(TrialModel.state).where(
                    TrialModel.search_id == search.id, TrialModel.optuna_number == optuna_number
                )
            )
            if clash is not None:
                raise ValueError(
                    f"trial {optuna_number} of search {search_name!r} is already recorded "
                    f"(state {clash!r}); Optuna numbers are never reused"
                )
            now = utcnow()
            row = TrialModel(
                search_id=search.id,
                optuna_number=optuna_number,
                architecture_id=arch_id,
                state="running",
                train_config_key=train_config_key,
                test_seeds=0,
                started_at=now,
                worker=result.get("worker"),
                device=result.get("device"),
            )
            s.add(row)
            search.updated_at = now
            s.flush()
            if state is not None:
                self._apply_result(s, row, state, **result)
            return row.id

    def _apply_result(
        self,
        s: Session,
        row: TrialModel,
        state: str,
        *,
        val_accuracy: float | None = None,
        val_loss: float | None = None,
        best_val_accuracy: float | None = None,
        epochs_run: int | None = None,
        train_seconds: float | None = None,
        images_per_second: float | None = None,
        error: str | None = None,
        duplicate_of: int | None = None,
        worker: str | None = None,
        device: str | None = None,
    ) -> None:
        if state == "duplicate" and duplicate_of is None and row.duplicate_of is None:
            raise ValueError("a 'duplicate' trial needs duplicate_of (the id of the trial it reuses)")
        if duplicate_of is not None:
            original = self._trial(s, require_int(duplicate_of, "duplicate_of"))
            if original.id == row.id:
                raise ValueError(f"trial {row.id} cannot be a duplicate of itself")
            row.duplicate_of = original.id
            if state == "duplicate":  # reuse the original's result unless told otherwise
                val_accuracy = original.val_accuracy if val_accuracy is None else val_accuracy
                val_loss = original.val_loss if val_loss is None else val_loss
                best_val_accuracy = original.best_val_accuracy if best_val_accuracy is None else best_val_accuracy
                epochs_run = original.epochs_run if epochs_run is None else epochs_run
        if epochs_run is None or best_val_accuracy is None:
            n_epochs, best_epoch_val = s.execute(
                sa.select(sa.func.count(), sa.func.max(EpochMetricModel.val_accuracy)).where(
                    EpochMetricModel.trial_id == row.id
                )
            ).one()
            if epochs_run is None and n_epochs:
                epochs_run = n_epochs
            if best_val_accuracy is None and best_epoch_val is not None:
                best_val_accuracy = best_epoch_val
        updates = {
            "val_accuracy": to_num(val_accuracy, "val_accuracy"),
            "val_loss": to_num(val_loss, "val_loss"),
            "best_val_accuracy": to_num(best_val_accuracy, "best_val_accuracy"),
            "epochs_run": to_int(epochs_run, "epochs_run"),
            "train_seconds": to_num(train_seconds, "train_seconds"),
            "images_per_second": to_num(images_per_second, "images_per_second"),
            "error": None if error is None else str(error),
            "worker": worker,
            "device": device,
        }
        for field, value in updates.items():
            if value is not None:
                setattr(row, field, value)
        row.state = state
        row.finished_at = utcnow()
        s.get_one(SearchModel, row.search_id).updated_at = row.finished_at

    def add_epoch(self, trial_id: int, metrics: dict[str, Any]) -> EpochRecord:
        """Record one epoch's metrics; sending the same epoch again replaces it.

        Args:
            metrics: 'epoch' (int, required) plus any of train_loss, train_accuracy, val_loss,
                val_accuracy, seconds, lr.
        """
        unknown = sorted(set(metrics) - set(EPOCH_FIELDS))
        if unknown:
            raise ValueError(f"unknown epoch metric(s) {', '.join(unknown)}; valid: {', '.join(EPOCH_FIELDS)}")
        if metrics.get("epoch") is None:
            raise ValueError("epoch metrics need an 'epoch' number")
        epoch = to_int(metrics["epoch"], "epoch")
        values = {k: to_num(metrics.get(k), k) for k in EPOCH_FIELDS if k != "epoch"}
        with self._session() as s:
            self._trial(s, trial_id)
            row = s.scalar(
                sa.select(EpochMetricModel).where(
                    EpochMetricModel.trial_id == trial_id, EpochMetricModel.epoch == epoch
                )
            )
            if row is None:
                row = EpochMetricModel(trial_id=trial_id, epoch=epoch)
                s.add(row)
            for key, value in values.items():
                setattr(row, key, value)
            s.flush()
            return epoch_record(row)

    def epochs(self, trial_id: int) -> list[EpochRecord]:
        with self._session() as s:
            rows = s.scalars(
                sa.select(EpochMetricModel)
                .where(EpochMetricModel.trial_id == trial_id)
                .order_by(EpochMetricModel.epoch)
            ).all()
            return [epoch_record(r) for r in rows]

    def find_completed(self, arch_hash: str, train_config_key: str) -> TrialRecord | None:
        """The best completed trial of this architecture under this training config, in any
        search (highest val accuracy, then the earliest); None when there is none."""
        with self._session() as s:
            row = s.execute(
                trial_select()
                .where(
                    ArchitectureModel.hash == arch_hash,
                    TrialModel.train_config_key == train_config_key,
                    TrialModel.state == "complete",
                )
                .order_by(
                    TrialModel.val_accuracy.is_(None),
                    TrialModel.val_accuracy.desc(),
                    TrialModel.id,
                )
                .limit(1)
            ).first()
            return None if row is None else trial_record(row)

    def get_trial(self, search_name: str, optuna_number: int) -> TrialRecord | None:
        with self._session() as s:
            row = s.execute(
                trial_select().where(SearchModel.name == search_name, TrialModel.optuna_number == optuna_number)
            ).first()
            return None if row is None else trial_record(row)

    def get_trial_by_id(self, trial_id: int) -> TrialRecord | None:
        with self._session() as s:
            row = s.execute(trial_select().where(TrialModel.id == trial_id)).first()
            return None if row is None else trial_record(row)

    def trials(self, search_name: str | None = None, states: Iterable[str] | str | None = None) -> list[TrialRecord]:
        """Trials of one search (or all), optionally only in `states`, by search then number."""
        states = check_states(states)
        query = trial_select().order_by(TrialModel.search_id, TrialModel.optuna_number)
        if search_name is not None:
            query = query.where(SearchModel.name == search_name)
        if states is not None:
            query = query.where(TrialModel.state.in_(states))
        with self._session() as s:
            return [trial_record(r) for r in s.execute(query)]

    def completed_numbers(self, search_name: str) -> set[int]:
        """Optuna numbers of the search's trials in state 'complete'."""
        with self._session() as s:
            return set(
                s.scalars(
                    sa.select(TrialModel.optuna_number)
                    .join(SearchModel, TrialModel.search_id == SearchModel.id)
                    .where(SearchModel.name == search_name, TrialModel.state == "complete")
                )
            )

    def count_trials(self, search_name: str, states: Iterable[str] | str | None = None) -> int:
        """Number of the search's trials (only those in `states` when given)."""
        states = check_states(states)
        query = (
            sa.select(sa.func.count())
            .select_from(TrialModel)
            .join(SearchModel, TrialModel.search_id == SearchModel.id)
            .where(SearchModel.name == search_name)
        )
        if states is not None:
            query = query.where(TrialModel.state.in_(states))
        with self._session() as s:
            return int(s.scalar(query) or 0)

    def mark_interrupted(self, search_name: str) -> list[int]:
        """Close trials a dead driver left 'running' as 'interrupted'; return their numbers."""
        with self._session() as s:
            search = self._search(s, search_name)
            rows = s.scalars(
                sa.select(TrialModel)
                .where(TrialModel.search_id == search.id, TrialModel.state == "running")
                .order_by(TrialModel.optuna_number)
            ).all()
            now = utcnow()
            for row in rows:
                row.state = "interrupted"
                row.finished_at = now
                row.error = row.error or "the search driver stopped before this trial finished"
            if rows:
                search.updated_at = now
            return [r.optuna_number for r in rows]
