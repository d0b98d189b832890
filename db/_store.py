"""The `Store`: every read and write of the project's tables goes through it.

Only the search driver writes; readers (leaderboard, show, export) share the database. Each
method runs in its own session (one transaction) and returns frozen records from
`db._records`, never ORM rows.
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from db import _leaderboard
from db._convert import (
    arch_record,
    aware,
    check_choice,
    check_states,
    dumps,
    epoch_record,
    evaluation_record,
    loads,
    search_record,
    to_int,
    to_num,
    trial_record,
    trial_select,
)
from db._engine import SessionFactory, mask
from db._errors import AmbiguousHashError, DatabaseError, NotFoundError
from db._models import (
    ArchitectureModel,
    ArtifactModel,
    EpochMetricModel,
    EvaluationModel,
    SearchModel,
    TrialModel,
    utcnow,
)
from db._records import (
    EPOCH_FIELDS,
    FINISHED_TRIAL_STATES,
    SEARCH_STATUSES,
    SORT_KEYS,
    ArchitectureRecord,
    ArtifactRecord,
    EpochRecord,
    EvaluationRecord,
    LeaderboardRow,
    SearchRecord,
    SearchSummary,
    TrialRecord,
)


class Store:
    """Typed access to the project's tables. Create with `db.connect(url)`.

    Args:
        sessions: the session factory (engine plus the commit/rollback/translate scope).
        url: the resolved URL, password included: give this one to Optuna's RDBStorage.
    """

    def __init__(self, sessions: SessionFactory, url: str) -> None:
        self._session = sessions
        self.url = url
        self.display_url = mask(url)

    # lifecycle

    def close(self) -> None:
        """Release the engine's connections."""
        self._session.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.display_url!r})"

    @property
    def backend(self) -> str:
        """The SQL dialect in use: 'sqlite', 'postgresql', ..."""
        return self._session.engine.dialect.name

    # internal lookups

    def _search(self, s: Session, name: str) -> SearchModel:
        row = s.scalar(sa.select(SearchModel).where(SearchModel.name == name))
        if row is None:
            raise NotFoundError(f"no search named {name!r} in {self.display_url}")
        return row

    def _arch(self, s: Session, arch_hash: str) -> ArchitectureModel:
        row = s.scalar(sa.select(ArchitectureModel).where(ArchitectureModel.hash == arch_hash))
        if row is None:
            raise NotFoundError(f"no architecture with hash {arch_hash!r}; call upsert_architecture first")
        return row

    def _trial(self, s: Session, trial_id: int) -> TrialModel:
        row = s.get(TrialModel, trial_id)
        if row is None:
            raise NotFoundError(f"no trial with id {trial_id} in {self.display_url}")
        return row

    # searches

    def create_or_get_search(
        self,
        name: str,
        *,
        space: str,
        space_options: dict[str, Any],
        dataset: str,
        train_config: dict[str, Any],
        objectives: Sequence[str],
        config: dict[str, Any],
        code_version: str,
        optuna_study_name: str,
    ) -> SearchRecord:
        """Create the search `name` with status 'running', or return it unchanged if it exists.

        The caller compares the returned record's config with its own to decide whether
        resuming is allowed.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"search name must be a non-empty string, got {name!r}")
        if isinstance(objectives, str) or not all(isinstance(o, str) for o in objectives):
            raise ValueError(f"objectives must be a list of strings, got {objectives!r}")
        with self._session() as s:
            existing = s.scalar(sa.select(SearchModel).where(SearchModel.name == name))
            if existing is not None:
                return search_record(existing)
            row = SearchModel(
                name=name,
                space=space,
                space_options=dumps(space_options, "space_options"),
                dataset=dataset,
                train_config=dumps(train_config, "train_config"),
                objectives=dumps(list(objectives), "objectives"),
                config=dumps(config, "config"),
                status="running",
                code_version=code_version,
                optuna_study_name=optuna_study_name,
            )
            s.add(row)
            s.flush()
            return search_record(row)

    def get_search(self, name: str) -> SearchRecord | None:
        with self._session() as s:
            row = s.scalar(sa.select(SearchModel).where(SearchModel.name == name))
            return None if row is None else search_record(row)

    def set_search_status(self, name: str, status: str) -> None:
        """Set a search's status: one of `SEARCH_STATUSES`."""
        check_choice(status, SEARCH_STATUSES, "search status")
        with self._session() as s:
            row = self._search(s, name)
            row.status = status
            row.updated_at = utcnow()

    def list_searches(self) -> list[SearchSummary]:
        """Every search, oldest first, with trial counts per state (duplicates and infeasible
        samples included) and the best val and test accuracies."""
        with self._session() as s:
            return _leaderboard.search_summaries(s)

    # architectures

    def upsert_architecture(
        self, hash: str, canonical_json: str, params: int, flops: int, summary: dict[str, Any]
    ) -> ArchitectureRecord:
        """Store an architecture once per hash; later calls return the stored row unchanged."""
        if not isinstance(hash, str) or not hash or len(hash) > 64:
            raise ValueError(f"architecture hash must be a string of 1-64 characters, got {hash!r}")
        params = to_int(params, "params")
        flops = to_int(flops, "flops")
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
            return arch_record(row)

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
        return self._insert_trial(
            search_name,
            optuna_number,
            arch_hash,
            train_config_key,
            "running",
            worker=worker,
            device=device,
            finished=False,
        )

    def finish_trial(
        self,
        trial_id: int,
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
    ) -> TrialRecord:
        """Close a trial with a final state; fields left None keep their stored value.

        When not given, `epochs_run` defaults to the number of recorded epochs and
        `best_val_accuracy` to the best recorded epoch's val accuracy.
        """
        check_choice(state, FINISHED_TRIAL_STATES, "final trial state")
        with self._session() as s:
            row = self._trial(s, trial_id)
            self._apply_result(
                s,
                row,
                state,
                val_accuracy=val_accuracy,
                val_loss=val_loss,
                best_val_accuracy=best_val_accuracy,
                epochs_run=epochs_run,
                train_seconds=train_seconds,
                images_per_second=images_per_second,
                error=error,
                duplicate_of=duplicate_of,
                worker=worker,
                device=device,
            )
            s.flush()
            return trial_record(s.execute(trial_select().where(TrialModel.id == row.id)).one())

    def record_trial(
        self,
        search_name: str,
        optuna_number: int,
        arch_hash: str | None,
        train_config_key: str,
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
    ) -> int:
        """Start and finish a trial in one transaction (duplicates, infeasible samples).

        A 'duplicate' needs `duplicate_of` (the id of the trial whose result it reuses); its
        val metrics and epochs default to that trial's. Returns the new trial's id.
        """
        check_choice(state, FINISHED_TRIAL_STATES, "final trial state")
        return self._insert_trial(
            search_name,
            optuna_number,
            arch_hash,
            train_config_key,
            state,
            worker=worker,
            device=device,
            finished=True,
            result=dict(
                val_accuracy=val_accuracy,
                val_loss=val_loss,
                best_val_accuracy=best_val_accuracy,
                epochs_run=epochs_run,
                train_seconds=train_seconds,
                images_per_second=images_per_second,
                error=error,
                duplicate_of=duplicate_of,
            ),
        )

    def _insert_trial(
        self,
        search_name: str,
        optuna_number: int,
        arch_hash: str | None,
        train_config_key: str,
        state: str,
        *,
        worker: str | None,
        device: str | None,
        finished: bool,
        result: dict[str, Any] | None = None,
    ) -> int:
        optuna_number = to_int(optuna_number, "optuna_number")
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
                worker=worker,
                device=device,
            )
            s.add(row)
            search.updated_at = now
            s.flush()
            if finished:
                self._apply_result(s, row, state, **(result or {}))
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
            original = self._trial(s, to_int(duplicate_of, "duplicate_of"))
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
        s.get(SearchModel, row.search_id).updated_at = row.finished_at

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
            return int(s.scalar(query))

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

    # artifacts

    def add_artifact(
        self,
        trial_id: int,
        kind: str,
        data: bytes,
        format: str = "safetensors",
        meta: dict[str, Any] | None = None,
    ) -> ArtifactRecord:
        """Store bytes for a trial (e.g. kind 'weights'); the same kind again replaces them."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValueError(f"artifact data must be bytes, got {type(data).__name__}")
        data = bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        with self._session() as s:
            self._trial(s, trial_id)
            row = s.scalar(
                sa.select(ArtifactModel).where(ArtifactModel.trial_id == trial_id, ArtifactModel.kind == kind)
            )
            if row is None:
                row = ArtifactModel(trial_id=trial_id, kind=kind)
                s.add(row)
            row.format = format
            row.data = data
            row.sha256 = digest
            row.meta = dumps(meta or {}, "artifact meta")
            row.created_at = utcnow()
            s.flush()
            return ArtifactRecord(
                id=row.id,
                trial_id=trial_id,
                kind=kind,
                format=format,
                sha256=digest,
                size=len(data),
                created_at=aware(row.created_at),
                meta=meta or {},
            )

    def get_artifact(self, trial_id: int, kind: str) -> bytes | None:
        """The artifact's bytes, checked against the stored sha256; None if there is none.

        Raises:
            DatabaseError: the stored bytes do not match their checksum.
        """
        with self._session() as s:
            row = s.execute(
                sa.select(ArtifactModel.data, ArtifactModel.sha256).where(
                    ArtifactModel.trial_id == trial_id, ArtifactModel.kind == kind
                )
            ).first()
        if row is None:
            return None
        data = bytes(row.data)
        if hashlib.sha256(data).hexdigest() != row.sha256:
            raise DatabaseError(
                f"artifact {kind!r} of trial {trial_id} in {self.display_url} is corrupted "
                "(sha256 mismatch); re-run the trial to store it again",
                url=self.display_url,
            )
        return data

    def artifacts(self, trial_id: int) -> list[ArtifactRecord]:
        """Descriptions (no bytes) of a trial's artifacts."""
        with self._session() as s:
            rows = s.execute(
                sa.select(
                    ArtifactModel.id,
                    ArtifactModel.kind,
                    ArtifactModel.format,
                    ArtifactModel.sha256,
                    sa.func.length(ArtifactModel.data),
                    ArtifactModel.created_at,
                    ArtifactModel.meta,
                )
                .where(ArtifactModel.trial_id == trial_id)
                .order_by(ArtifactModel.kind)
            ).all()
            return [
                ArtifactRecord(
                    id=r[0],
                    trial_id=trial_id,
                    kind=r[1],
                    format=r[2],
                    sha256=r[3],
                    size=int(r[4]),
                    created_at=aware(r[5]),
                    meta=loads(r[6]),
                )
                for r in rows
            ]

    # final evaluations

    def add_evaluation(
        self,
        arch_hash: str,
        search_name: str | None,
        seed: int,
        test_accuracy: float,
        test_loss: float | None,
        epochs: int,
        train_config: dict[str, Any],
    ) -> EvaluationRecord:
        """Record one final test-set run and refresh the test mean/std/seeds of the trials.

        An evaluation with a search counts for that search's trials of the architecture; one
        without (`search_name=None`) counts for every search's. The same (architecture, search,
        seed) again replaces the earlier run.
        """
        seed = to_int(seed, "seed")
        accuracy = to_num(test_accuracy, "test_accuracy")
        if accuracy is None:
            raise ValueError(f"test_accuracy must be a number, got {test_accuracy!r}")
        with self._session() as s:
            arch = self._arch(s, arch_hash)
            search = None if search_name is None else self._search(s, search_name)
            search_id = None if search is None else search.id
            s.execute(
                sa.delete(EvaluationModel).where(
                    EvaluationModel.architecture_id == arch.id,
                    EvaluationModel.search_id.is_(None)
                    if search_id is None
                    else EvaluationModel.search_id == search_id,
                    EvaluationModel.seed == seed,
                )
            )
            row = EvaluationModel(
                architecture_id=arch.id,
                search_id=search_id,
                seed=seed,
                test_accuracy=accuracy,
                test_loss=to_num(test_loss, "test_loss"),
                epochs=to_int(epochs, "epochs"),
                train_config=dumps(train_config, "train_config"),
            )
            s.add(row)
            s.flush()
            self._refresh_test_metrics(s, arch.id, search_id)
            return evaluation_record(row, arch.hash, search_name)

    def _refresh_test_metrics(self, s: Session, arch_id: int, search_id: int | None) -> None:
        trial_filter = [TrialModel.architecture_id == arch_id]
        if search_id is not None:
            trial_filter.append(TrialModel.search_id == search_id)
        affected = set(s.scalars(sa.select(TrialModel.search_id).where(*trial_filter)))
        for sid in affected:
            accuracies = list(
                s.scalars(
                    sa.select(EvaluationModel.test_accuracy).where(
                        EvaluationModel.architecture_id == arch_id,
                        sa.or_(EvaluationModel.search_id == sid, EvaluationModel.search_id.is_(None)),
                    )
                )
            )
            mean = statistics.fmean(accuracies) if accuracies else None
            std = statistics.stdev(accuracies) if len(accuracies) > 1 else None
            s.execute(
                sa.update(TrialModel)
                .where(TrialModel.architecture_id == arch_id, TrialModel.search_id == sid)
                .values(test_accuracy_mean=mean, test_accuracy_std=std, test_seeds=len(accuracies))
            )

    def evaluations(self, arch_hash: str) -> list[EvaluationRecord]:
        """Every final evaluation of an architecture, oldest first."""
        with self._session() as s:
            rows = s.execute(
                sa.select(EvaluationModel, ArchitectureModel.hash, SearchModel.name)
                .join(ArchitectureModel, EvaluationModel.architecture_id == ArchitectureModel.id)
                .outerjoin(SearchModel, EvaluationModel.search_id == SearchModel.id)
                .where(ArchitectureModel.hash == arch_hash)
                .order_by(EvaluationModel.id)
            ).all()
            return [evaluation_record(r[0], r[1], r[2]) for r in rows]

    # leaderboard

    def leaderboard(
        self,
        search_name: str | None = None,
        *,
        top: int | None = None,
        sort: str = "val_accuracy",
        states: Iterable[str] | str = ("complete",),
        pareto: bool = False,
    ) -> list[LeaderboardRow]:
        """Ranked trials of one search (None: all searches).

        Args:
            top: keep the first `top` rows (after the Pareto filter).
            sort: one of `SORT_KEYS`; accuracies sort descending, costs ascending, missing
                values last.
            states: trial states to include. Duplicates are never rows of their own: the trial
                they reuse is already a row. The exception is a duplicate whose original lies in
                another search: in a single-search leaderboard it stands in (state 'duplicate')
                for that result.
            pareto: keep only rows not dominated on (max val_accuracy, min params).

        Raises:
            ValueError: unknown sort key or state, or a `top` below 1.
            NotFoundError: no search of that name.
        """
        if sort not in SORT_KEYS:
            raise ValueError(f"unknown sort key {sort!r}; valid: {', '.join(SORT_KEYS)}")
        if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
            raise ValueError(f"top must be a positive integer, got {top!r}")
        states = check_states(states) or ()
        with self._session() as s:
            search = None if search_name is None else self._search(s, search_name)
            return _leaderboard.leaderboard(s, search, top=top, sort=sort, states=states, pareto=pareto)
