"""Initial schema: searches, architectures, trials, epoch metrics, artifacts, evaluations.

Revision ID: 0001
Revises:
Create Date: 2025-11-22

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nas_searches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("space", sa.String(length=255), nullable=False),
        sa.Column("space_options", sa.Text(), nullable=False),
        sa.Column("dataset", sa.String(length=255), nullable=False),
        sa.Column("train_config", sa.Text(), nullable=False),
        sa.Column("objectives", sa.Text(), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("code_version", sa.String(length=255), nullable=False),
        sa.Column("optuna_study_name", sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nas_searches")),
        sa.UniqueConstraint("name", name=op.f("uq_nas_searches_name")),
    )
    op.create_table(
        "nas_architectures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("canonical_json", sa.Text(), nullable=False),
        sa.Column("params", sa.BigInteger(), nullable=False),
        sa.Column("flops", sa.BigInteger(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nas_architectures")),
        sa.UniqueConstraint("hash", name=op.f("uq_nas_architectures_hash")),
    )
    op.create_table(
        "nas_trials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("optuna_number", sa.Integer(), nullable=False),
        sa.Column("architecture_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("train_config_key", sa.String(length=128), nullable=False),
        sa.Column("val_accuracy", sa.Float(), nullable=True),
        sa.Column("val_loss", sa.Float(), nullable=True),
        sa.Column("best_val_accuracy", sa.Float(), nullable=True),
        sa.Column("test_accuracy_mean", sa.Float(), nullable=True),
        sa.Column("test_accuracy_std", sa.Float(), nullable=True),
        sa.Column("test_seeds", sa.Integer(), nullable=False),
        sa.Column("epochs_run", sa.Integer(), nullable=True),
        sa.Column("train_seconds", sa.Float(), nullable=True),
        sa.Column("images_per_second", sa.Float(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column("device", sa.String(length=255), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duplicate_of", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["nas_searches.id"],
            name=op.f("fk_nas_trials_search_id_nas_searches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["architecture_id"],
            ["nas_architectures.id"],
            name=op.f("fk_nas_trials_architecture_id_nas_architectures"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of"],
            ["nas_trials.id"],
            name=op.f("fk_nas_trials_duplicate_of_nas_trials"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nas_trials")),
        sa.UniqueConstraint("search_id", "optuna_number", name=op.f("uq_nas_trials_search_id_optuna_number")),
    )
    op.create_index(
        op.f("ix_nas_trials_architecture_id_train_config_key_state"),
        "nas_trials",
        ["architecture_id", "train_config_key", "state"],
    )
    op.create_index(op.f("ix_nas_trials_state"), "nas_trials", ["state"])
    op.create_table(
        "nas_epoch_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("train_loss", sa.Float(), nullable=True),
        sa.Column("train_accuracy", sa.Float(), nullable=True),
        sa.Column("val_loss", sa.Float(), nullable=True),
        sa.Column("val_accuracy", sa.Float(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("lr", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["nas_trials.id"],
            name=op.f("fk_nas_epoch_metrics_trial_id_nas_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nas_epoch_metrics")),
        sa.UniqueConstraint("trial_id", "epoch", name=op.f("uq_nas_epoch_metrics_trial_id_epoch")),
    )
    op.create_table(
        "nas_artifacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["nas_trials.id"],
            name=op.f("fk_nas_artifacts_trial_id_nas_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nas_artifacts")),
        sa.UniqueConstraint("trial_id", "kind", name=op.f("uq_nas_artifacts_trial_id_kind")),
    )
    op.create_table(
        "nas_evaluations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("architecture_id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("test_accuracy", sa.Float(), nullable=False),
        sa.Column("test_loss", sa.Float(), nullable=True),
        sa.Column("epochs", sa.Integer(), nullable=False),
        sa.Column("train_config", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["architecture_id"],
            ["nas_architectures.id"],
            name=op.f("fk_nas_evaluations_architecture_id_nas_architectures"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["nas_searches.id"],
            name=op.f("fk_nas_evaluations_search_id_nas_searches"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nas_evaluations")),
    )
    op.create_index(op.f("ix_nas_evaluations_architecture_id"), "nas_evaluations", ["architecture_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_nas_evaluations_architecture_id"), table_name="nas_evaluations")
    op.drop_table("nas_evaluations")
    op.drop_table("nas_artifacts")
    op.drop_table("nas_epoch_metrics")
    op.drop_index(op.f("ix_nas_trials_state"), table_name="nas_trials")
    op.drop_index(op.f("ix_nas_trials_architecture_id_train_config_key_state"), table_name="nas_trials")
    op.drop_table("nas_trials")
    op.drop_table("nas_architectures")
    op.drop_table("nas_searches")
