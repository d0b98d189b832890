"""Artifacts (a trial's weights, checksummed) and final evaluations (test runs of an architecture)."""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from db._base import StoreBase
from db._convert import (
    aware,
    dumps,
    evaluation_record,
    loads,
    require_int,
    to_int,
    to_num,
)
from db._errors import DatabaseError
from db._models import (
    ArchitectureModel,
    ArtifactModel,
    EvaluationModel,
    SearchModel,
    TrialModel,
    utcnow,
)
from db._records import (
    ArtifactRecord,
    EvaluationRecord,
)


class Artifacts(StoreBase):
    """The `Store`'s methods for artifacts (weights) and final evaluations."""

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

    def delete_artifacts(self, trial_ids: Iterable[int], kind: str) -> int:
        """Delete the `kind` artifacts of these trials (e.g. the weights of a trial that left a
        search's top K); returns how many there were."""
        ids = sorted(set(trial_ids))
        if not ids:
            return 0
        with self._session() as s:
            done = s.execute(
                sa.delete(ArtifactModel).where(ArtifactModel.trial_id.in_(ids), ArtifactModel.kind == kind)
            )
            return int(getattr(done, "rowcount", 0) or 0)

    def trials_with_artifact(self, search_name: str, kind: str) -> set[int]:
        """Ids of the search's trials that hold an artifact of `kind` (one query, no bytes read)."""
        with self._session() as s:
            search = self._search(s, search_name)
            return set(
                s.scalars(
                    sa.select(ArtifactModel.trial_id)
                    .join(TrialModel, ArtifactModel.trial_id == TrialModel.id)
                    .where(TrialModel.search_id == search.id, ArtifactModel.kind == kind)
                )
            )

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
        seed = require_int(seed, "seed")
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
