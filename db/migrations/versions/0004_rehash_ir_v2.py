"""Rehash every stored architecture for IR v2 ("nas.arch/2"); merge rows that are now one network.

IR v2 changed the canonical form (`nas.ir.canonical`): a merge-only identity folds into its reader
(conv(identity(add(a, b))) is conv(add(a, b))), a concat whose channel order matters keeps its
input order, and the JSON says "nas.arch/2". So the hash of some stored architectures changed, and
a resumed search would not find them (the driver dedupes by hash) nor would `nas show` / export.

Each row of nas_architectures gets what the driver would write for it today (`Search._dispatch`):
``canonical = Arch.from_json(canonical_json).canonical()``, hash ``arch.hash()``, canonical_json
``canonical.to_json()`` and summary ``canonical.summary()`` (as the Store stores it). Rows are
taken oldest first (by id). Two rows that now get the same hash and are isomorphic (the hash is an
index, `Arch.isomorphic` the proof) were one network all along: the older row is kept, the
other's trials and evaluations move to it, its costs move too unless the kept row has a cost for
the same (shape, classes), and the newer row is deleted. Same hash but another graph (a WL
collision): the key is re-derived as the driver's `_identity` does, sha256("<key>:collision").
Optuna's per-trial user attribute "arch_hash" follows its architecture's new hash.

A row whose JSON this nas cannot read is left exactly as it is (logged): its hash is still the key
it was stored under, and nothing else can be derived from it.

The new hashes come from the current `nas.ir`, not a frozen copy: the hash is only meaningful as
what the running code computes, so rerunning this against a later IR gives that IR's hashes.

Downgrade: a no-op. The old hashes cannot be restored (the old canonical code is gone, and merged
rows are gone); the schema is unchanged, so an older nas can read the rows, it just will not
recognise the architectures whose hash changed (it trains them again under its own hash).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10

"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

# Optuna's table of per-trial user attributes, and the attribute the driver keys by hash
# (nas.search.trial_attrs.set_arch_attrs); its value_json is json.dumps of the hash.
OPTUNA_USER_ATTRS = "trial_user_attributes"
ARCH_HASH_ATTR = "arch_hash"
# A placeholder hash while rows swap hashes (unique at every statement, also on PostgreSQL);
# never hex, so it cannot equal a real hash.
TEMP_HASH = "rehash-0004:{}"

architectures = sa.table(
    "nas_architectures",
    sa.column("id", sa.Integer),
    sa.column("hash", sa.String),
    sa.column("canonical_json", sa.Text),
    sa.column("summary", sa.Text),
)
costs = sa.table(
    "nas_architecture_costs",
    sa.column("id", sa.Integer),
    sa.column("architecture_id", sa.Integer),
    sa.column("channels", sa.Integer),
    sa.column("height", sa.Integer),
    sa.column("width", sa.Integer),
    sa.column("num_classes", sa.Integer),
)
trials = sa.table("nas_trials", sa.column("id", sa.Integer), sa.column("architecture_id", sa.Integer))
evaluations = sa.table("nas_evaluations", sa.column("id", sa.Integer), sa.column("architecture_id", sa.Integer))
user_attrs = sa.table(
    OPTUNA_USER_ATTRS,
    sa.column("trial_user_attribute_id", sa.Integer),
    sa.column("key", sa.String),
    sa.column("value_json", sa.Text),
)


# Plain classes, not dataclasses: Alembic loads this file without registering it in sys.modules,
# which dataclasses need.
class _Row:
    """One readable row: what it holds now and what it gets (`hash` may be re-derived)."""

    def __init__(self, id: int, old: tuple[str, str, str], new: tuple[str, str, str], arch: Any) -> None:
        self.id = id
        self.old_hash, self.old_json, self.old_summary = old
        self.hash, self.canonical_json, self.summary = new
        self.arch = arch  # nas.ir.Arch, canonical

    def changed(self) -> bool:
        return (self.hash, self.canonical_json, self.summary) != (self.old_hash, self.old_json, self.old_summary)


class _Plan:
    def __init__(self, keep: list[_Row], merge: dict[int, int], renames: dict[str, str]) -> None:
        self.keep = keep  # rows that stay, with their new values
        self.merge = merge  # id of a row to fold away -> id of the row it is the same network as
        self.renames = renames  # old hash -> new hash, for every row whose hash changed (merged ones too)


def upgrade() -> None:
    bind = op.get_bind()
    plan = _plan(bind)
    for dup, kept in plan.merge.items():
        _merge(bind, dup, kept)
    _rewrite(bind, plan.keep)
    _rename_optuna_attrs(bind, plan.renames)
    if plan.merge or plan.renames:
        log.info(
            "rehashed architectures for IR v2: %d new hashes, %d rows merged into the same network",
            len(plan.renames),
            len(plan.merge),
        )


def downgrade() -> None:
    # Nothing to undo in the schema, and the old hashes cannot be recomputed (see the docstring).
    pass


def _plan(bind: sa.Connection) -> _Plan:
    """Every row's new hash, canonical JSON and summary, and which rows merge into which."""
    rows = bind.execute(
        sa.select(
            architectures.c.id, architectures.c.hash, architectures.c.canonical_json, architectures.c.summary
        ).order_by(architectures.c.id)
    ).all()
    if not rows:
        return _Plan([], {}, {})  # a new database: nothing to rehash, and no need to load the IR

    from nas.ir import Arch  # the hash is what the running IR computes (see the module docstring)

    parsed: list[_Row] = []
    # hash -> (id, canonical Arch, or None for a row left as it is)
    taken: dict[str, tuple[int, Any]] = {}
    unreadable: list[int] = []
    for row_id, old_hash, text, summary in rows:
        try:
            arch = Arch.from_json(text)
            canonical = arch.canonical()
            new = _Row(
                row_id,
                (old_hash, text, summary),
                (arch.hash(), canonical.to_json(), _dumps(canonical.summary())),
                canonical,
            )
        except (ValueError, TypeError, RecursionError):  # InvalidArchitecture is a ValueError
            unreadable.append(row_id)
            taken[old_hash] = (row_id, None)
            continue
        parsed.append(new)
    if unreadable:
        shown = ", ".join(map(str, unreadable[:20])) + (" ..." if len(unreadable) > 20 else "")
        log.warning(
            "%d stored architectures are not readable as architectures and keep their hash (ids %s)",
            len(unreadable),
            shown,
        )
    keep: list[_Row] = []
    merge: dict[int, int] = {}
    renames: dict[str, str] = {}
    for row in parsed:
        key = row.hash
        while True:
            hit = taken.get(key)
            if hit is None:
                taken[key] = (row.id, row.arch)
                row.hash = key
                keep.append(row)
                break
            kept_id, kept_arch = hit
            if kept_arch is not None and kept_arch.isomorphic(row.arch):
                merge[row.id] = kept_id
                break
            key = hashlib.sha256(f"{key}:collision".encode()).hexdigest()  # as Search._identity
        if key != row.old_hash:
            renames[row.old_hash] = key
    return _Plan(keep, merge, renames)


def _dumps(summary: dict[str, int]) -> str:
    return json.dumps(summary, sort_keys=True)  # as db._convert.dumps, which the Store writes with


def _merge(bind: sa.Connection, dup: int, kept: int) -> None:
    """Fold row `dup` into row `kept` (the same network): its trials, evaluations and costs move."""
    bind.execute(trials.update().where(trials.c.architecture_id == dup).values(architecture_id=kept))
    bind.execute(evaluations.update().where(evaluations.c.architecture_id == dup).values(architecture_id=kept))
    key_columns = (costs.c.channels, costs.c.height, costs.c.width, costs.c.num_classes)
    have = {tuple(r) for r in bind.execute(sa.select(*key_columns).where(costs.c.architecture_id == kept))}
    drop: list[int] = []
    move: list[int] = []
    for cost_id, *key in bind.execute(sa.select(costs.c.id, *key_columns).where(costs.c.architecture_id == dup)):
        if tuple(key) in have:
            drop.append(cost_id)  # the kept row's own cost for this shape wins (first write wins)
        else:
            have.add(tuple(key))
            move.append(cost_id)
    if drop:
        bind.execute(costs.delete().where(costs.c.id.in_(drop)))
    if move:
        bind.execute(costs.update().where(costs.c.id.in_(move)).values(architecture_id=kept))
    bind.execute(architectures.delete().where(architectures.c.id == dup))


def _rewrite(bind: sa.Connection, rows: list[_Row]) -> None:
    """Write the kept rows' new hash, canonical JSON and summary.

    Hashes may swap between rows (a kept row takes the hash a merged or another row held), so
    every changed hash is first parked on a placeholder: the unique index holds at every step.
    """
    changed = [r for r in rows if r.hash != r.old_hash]
    if changed:
        bind.execute(
            architectures.update().where(architectures.c.id == sa.bindparam("row_id")).values(hash=sa.bindparam("h")),
            [{"row_id": r.id, "h": TEMP_HASH.format(r.id)} for r in changed],
        )
    values = [{"row_id": r.id, "h": r.hash, "text": r.canonical_json, "s": r.summary} for r in rows if r.changed()]
    if values:
        bind.execute(
            architectures.update()
            .where(architectures.c.id == sa.bindparam("row_id"))
            .values(hash=sa.bindparam("h"), canonical_json=sa.bindparam("text"), summary=sa.bindparam("s")),
            values,
        )


def _rename_optuna_attrs(bind: sa.Connection, renames: dict[str, str]) -> None:
    """Optuna's "arch_hash" user attributes: the old hash becomes the new one (where Optuna's
    tables are in this database; they are created by the first search, not by this schema)."""
    if not renames or not sa.inspect(bind).has_table(OPTUNA_USER_ATTRS):
        return
    updates = []
    for attr_id, value_json in bind.execute(
        sa.select(user_attrs.c.trial_user_attribute_id, user_attrs.c.value_json).where(
            user_attrs.c.key == ARCH_HASH_ATTR
        )
    ):
        try:
            value = json.loads(value_json)
        except (TypeError, ValueError):
            continue
        if isinstance(value, str) and value in renames:
            updates.append({"attr_id": attr_id, "value": json.dumps(renames[value])})
    if updates:
        bind.execute(
            user_attrs.update()
            .where(user_attrs.c.trial_user_attribute_id == sa.bindparam("attr_id"))
            .values(value_json=sa.bindparam("value")),
            updates,
        )
