"""Params and FLOPs per input shape: nas_architecture_costs, and each search's input shape.

An architecture's params and FLOPs depend on the input shape and the number of classes, so one
pair per architecture (nas_architectures.params/flops, from the first search that sampled it)
is wrong in a search on other data. This adds nas_architecture_costs, one row per
(architecture, C, H, W, classes), and the input shape and class count of each search.

Backfill, where the stored rows tell: a search's shape from the meta of its trials' stored
weights (driver versions that record it) with the class count from the weights' classifier,
else from its dataset when that fixes the shape (fashion-mnist, mnist, cifar10, synthetic;
resized to the search's image_size). An architecture's stored params/flops were counted for the
search of its first trial, so they become its cost row for that search's shape. Everything else
stays unknown: the leaderboard then falls back to nas_architectures' columns.

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-03

"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHAPE_COLUMNS = ("input_channels", "input_height", "input_width", "num_classes")

# The datasets whose images have one fixed shape (C, H, W) and class count, as registered in
# workers.datasets when this revision was written (frozen here: a migration must not change).
KNOWN_DATASETS = {
    "fashion-mnist": (1, 28, 28, 10),
    "mnist": (1, 28, 28, 10),
    "cifar10": (3, 32, 32, 10),
    "synthetic": (1, 28, 28, 10),
}
ALIASES = {"fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist", "cifar10": "cifar10"}
# The classifier's weight in a stored state dict, (num_classes, width) (nas.ir.compile).
CLASSIFIER_WEIGHT = "head.2.weight"
# Bytes read from the start of a weights artifact: the safetensors header (names and shapes).
HEADER_BYTES = 1 << 16

searches = sa.table(
    "nas_searches",
    sa.column("id", sa.Integer),
    sa.column("dataset", sa.String),
    sa.column("config", sa.Text),
    *(sa.column(name, sa.Integer) for name in SHAPE_COLUMNS),
)
architectures = sa.table(
    "nas_architectures",
    sa.column("id", sa.Integer),
    sa.column("params", sa.BigInteger),
    sa.column("flops", sa.BigInteger),
)
trials = sa.table(
    "nas_trials",
    sa.column("id", sa.Integer),
    sa.column("search_id", sa.Integer),
    sa.column("architecture_id", sa.Integer),
)
artifacts = sa.table(
    "nas_artifacts",
    sa.column("id", sa.Integer),
    sa.column("trial_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("meta", sa.Text),
    sa.column("data", sa.LargeBinary),
)


def upgrade() -> None:
    # recreate="never": SQLite adds (and drops) columns in place; copying nas_searches would
    # cascade-delete its trials where foreign keys are on.
    with op.batch_alter_table("nas_searches", recreate="never") as batch:
        for name in SHAPE_COLUMNS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))
    costs = op.create_table(
        "nas_architecture_costs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("architecture_id", sa.Integer(), nullable=False),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("num_classes", sa.Integer(), nullable=False),
        sa.Column("params", sa.BigInteger(), nullable=False),
        sa.Column("flops", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["architecture_id"],
            ["nas_architectures.id"],
            name=op.f("fk_nas_architecture_costs_architecture_id_nas_architectures"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nas_architecture_costs")),
        sa.UniqueConstraint(
            "architecture_id", "channels", "height", "width", "num_classes", name="uq_nas_architecture_costs_shape"
        ),
    )
    assert costs is not None
    _backfill(op.get_bind(), costs)


def downgrade() -> None:
    op.drop_table("nas_architecture_costs")
    with op.batch_alter_table("nas_searches", recreate="never") as batch:
        for name in reversed(SHAPE_COLUMNS):
            batch.drop_column(name)


# ---- backfill -----------------------------------------------------------------------------------
Shape = tuple[int, int, int, int]  # C, H, W, classes


def _backfill(bind: sa.Connection, costs: sa.Table) -> None:
    shapes = _search_shapes(bind)
    for search_id, shape in shapes.items():
        bind.execute(
            searches.update().where(searches.c.id == search_id).values(dict(zip(SHAPE_COLUMNS, shape, strict=True)))
        )
    # Each architecture's stored cost is for the search of its first trial (the driver stores an
    # architecture just before recording the trial that sampled it).
    first = (
        sa.select(sa.func.min(trials.c.id))
        .where(trials.c.architecture_id.is_not(None))
        .group_by(trials.c.architecture_id)
        .scalar_subquery()
    )
    rows = bind.execute(
        sa.select(trials.c.search_id, architectures.c.id, architectures.c.params, architectures.c.flops)
        .join(architectures, trials.c.architecture_id == architectures.c.id)
        .where(trials.c.id.in_(first))
    )
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    values = [
        {
            "architecture_id": arch_id,
            "channels": shapes[search_id][0],
            "height": shapes[search_id][1],
            "width": shapes[search_id][2],
            "num_classes": shapes[search_id][3],
            "params": params,
            "flops": flops,
            "created_at": now,
        }
        for search_id, arch_id, params, flops in rows
        if search_id in shapes
    ]
    if values:
        bind.execute(costs.insert(), values)


def _search_shapes(bind: sa.Connection) -> dict[int, Shape]:
    """The input shape and class count of every search whose stored rows tell them."""
    latest = (
        sa.select(sa.func.max(artifacts.c.id))
        .select_from(artifacts.join(trials, artifacts.c.trial_id == trials.c.id))
        .where(artifacts.c.kind == "weights")
        .group_by(trials.c.search_id)
        .scalar_subquery()
    )
    from_weights: dict[int, Shape] = {}
    for search_id, meta, head in bind.execute(
        sa.select(trials.c.search_id, artifacts.c.meta, sa.func.substr(artifacts.c.data, 1, HEADER_BYTES))
        .join(trials, artifacts.c.trial_id == trials.c.id)
        .where(artifacts.c.id.in_(latest))
    ):
        shape = _weights_shape(meta, head)
        if shape is not None:
            from_weights[search_id] = shape
    shapes: dict[int, Shape] = {}
    for search_id, dataset, config in bind.execute(sa.select(searches.c.id, searches.c.dataset, searches.c.config)):
        shape = from_weights.get(search_id) or _dataset_shape(dataset, _loads(config))
        if shape is not None:
            shapes[search_id] = shape
    return shapes


def _loads(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _weights_shape(meta_text: str | None, head: bytes | None) -> Shape | None:
    """(C, H, W, classes) from a weights artifact: meta 'shape' and the classifier's rows."""
    shape = _loads(meta_text).get("shape")
    if not isinstance(shape, list) or len(shape) != 3 or not all(_positive(v) for v in shape):
        return None
    head = bytes(head or b"")
    if len(head) < 8:
        return None
    n = int.from_bytes(head[:8], "little")
    try:
        header = json.loads(head[8 : 8 + n]) if 8 + n <= len(head) else None
    except ValueError:
        return None
    if not isinstance(header, dict):
        return None
    for name, entry in header.items():
        if name.endswith(CLASSIFIER_WEIGHT) and isinstance(entry, dict):
            rows = entry.get("shape")
            if isinstance(rows, list) and len(rows) == 2 and _positive(rows[0]):
                return (shape[0], shape[1], shape[2], rows[0])
    return None


def _dataset_shape(dataset: str | None, config: dict[str, Any]) -> Shape | None:
    """(C, H, W, classes) of a dataset with one fixed shape, resized to the config's image_size."""
    key = (dataset or "").strip().partition(":")[0].lower().replace("_", "-")
    key = ALIASES.get(key.replace("-", ""), key)
    known = KNOWN_DATASETS.get(key)
    if known is None:
        return None
    channels, height, width, classes = known
    size = config.get("image_size")
    if size is not None:
        if not _positive(size):
            return None
        height = width = size
    return (channels, height, width, classes)
