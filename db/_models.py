"""SQLAlchemy ORM models of the project's own tables (all prefixed ``nas_``).

Optuna's RDBStorage keeps its own tables (studies, trials, ...) in the same database; nothing here
references them, so either side can be upgraded on its own. These classes are private to `db`:
the store converts rows to the frozen records of `db._records` before returning.

JSON-valued columns are plain text holding ``json.dumps(..., sort_keys=True)``, so a stored
configuration reads the same in any SQL client. Timestamps are naive UTC. Enumerated strings
(search status, trial state) are validated by the store rather than by CHECK constraints, so a
new state needs no table rebuild on SQLite.

Any change here needs a new Alembic revision in `db/migrations/versions`; the test suite fails
when the migrated schema and these models differ.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Deterministic constraint names: migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TABLE_PREFIX = "nas_"


def utcnow() -> dt.datetime:
    """Naive UTC now (the form every timestamp column stores)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SearchModel(Base):
    __tablename__ = "nas_searches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    space: Mapped[str] = mapped_column(String(255))
    space_options: Mapped[str] = mapped_column(Text)
    dataset: Mapped[str] = mapped_column(String(255))
    train_config: Mapped[str] = mapped_column(Text)
    objectives: Mapped[str] = mapped_column(Text)
    config: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    status: Mapped[str] = mapped_column(String(32))
    code_version: Mapped[str] = mapped_column(String(255))
    optuna_study_name: Mapped[str] = mapped_column(String(512))
    # The data's input shape and class count: what the leaderboard's params/FLOPs are for.
    # NULL until the driver records them (and for old searches whose shape could not be told).
    input_channels: Mapped[int | None] = mapped_column(Integer)
    input_height: Mapped[int | None] = mapped_column(Integer)
    input_width: Mapped[int | None] = mapped_column(Integer)
    num_classes: Mapped[int | None] = mapped_column(Integer)
    # The driver process running the search ("host:pid:token"), and when it last said so; NULL
    # when none does. See Store.claim_search.
    driver: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    trials: Mapped[list[TrialModel]] = relationship(back_populates="search")


class ArchitectureModel(Base):
    __tablename__ = "nas_architectures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    canonical_json: Mapped[str] = mapped_column(Text)
    # For the input shape of the search that stored it first; per shape: ArchitectureCostModel.
    params: Mapped[int] = mapped_column(BigInteger)
    flops: Mapped[int] = mapped_column(BigInteger)
    summary: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ArchitectureCostModel(Base):
    """An architecture's params and FLOPs for one input shape and class count (they depend on both)."""

    __tablename__ = "nas_architecture_costs"
    __table_args__ = (
        # Named by hand: the convention's name would pass PostgreSQL's 63-character limit.
        UniqueConstraint(
            "architecture_id", "channels", "height", "width", "num_classes", name="uq_nas_architecture_costs_shape"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    architecture_id: Mapped[int] = mapped_column(ForeignKey("nas_architectures.id", ondelete="CASCADE"))
    channels: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    num_classes: Mapped[int] = mapped_column(Integer)
    params: Mapped[int] = mapped_column(BigInteger)
    flops: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class TrialModel(Base):
    __tablename__ = "nas_trials"
    __table_args__ = (
        UniqueConstraint("search_id", "optuna_number"),
        # The dedupe lookup: a completed trial of this architecture under this training config.
        Index(None, "architecture_id", "train_config_key", "state"),
        Index(None, "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("nas_searches.id", ondelete="CASCADE"))
    optuna_number: Mapped[int] = mapped_column(Integer)
    architecture_id: Mapped[int | None] = mapped_column(ForeignKey("nas_architectures.id", ondelete="RESTRICT"))
    state: Mapped[str] = mapped_column(String(32))
    train_config_key: Mapped[str] = mapped_column(String(128))
    val_accuracy: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    best_val_accuracy: Mapped[float | None] = mapped_column(Float)
    test_accuracy_mean: Mapped[float | None] = mapped_column(Float)
    test_accuracy_std: Mapped[float | None] = mapped_column(Float)
    test_seeds: Mapped[int] = mapped_column(Integer, default=0)
    epochs_run: Mapped[int | None] = mapped_column(Integer)
    train_seconds: Mapped[float | None] = mapped_column(Float)
    images_per_second: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    worker: Mapped[str | None] = mapped_column(String(255))
    device: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("nas_trials.id", ondelete="SET NULL"))

    search: Mapped[SearchModel] = relationship(back_populates="trials")
    architecture: Mapped[ArchitectureModel | None] = relationship()


class EpochMetricModel(Base):
    __tablename__ = "nas_epoch_metrics"
    __table_args__ = (UniqueConstraint("trial_id", "epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("nas_trials.id", ondelete="CASCADE"))
    epoch: Mapped[int] = mapped_column(Integer)
    train_loss: Mapped[float | None] = mapped_column(Float)
    train_accuracy: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    val_accuracy: Mapped[float | None] = mapped_column(Float)
    seconds: Mapped[float | None] = mapped_column(Float)
    lr: Mapped[float | None] = mapped_column(Float)


class ArtifactModel(Base):
    __tablename__ = "nas_artifacts"
    # One artifact per (trial, kind): saving again replaces it.
    __table_args__ = (UniqueConstraint("trial_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("nas_trials.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    meta: Mapped[str] = mapped_column(Text)


class EvaluationModel(Base):
    __tablename__ = "nas_evaluations"
    __table_args__ = (Index(None, "architecture_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    architecture_id: Mapped[int] = mapped_column(ForeignKey("nas_architectures.id", ondelete="CASCADE"))
    search_id: Mapped[int | None] = mapped_column(ForeignKey("nas_searches.id", ondelete="SET NULL"))
    seed: Mapped[int] = mapped_column(Integer)
    test_accuracy: Mapped[float] = mapped_column(Float)
    test_loss: Mapped[float | None] = mapped_column(Float)
    epochs: Mapped[int] = mapped_column(Integer)
    train_config: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
