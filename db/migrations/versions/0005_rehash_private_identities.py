"""Rehash every stored architecture again: an identity kept for a repeated input is private.

The canonical form bypasses pass-through identities. Where that would feed one tensor twice into
a merge (add(x, identity(x)): x + x is not x), one identity stays. Up to revision 0004 that kept
identity could also be read by other nodes, or not, depending on the order in which the nodes
were listed, so two listings of one network could get two hashes and be trained twice (found by
relabelling samples of the default space; tests/search_spaces/test_skipdag_v2.py). Since this
revision every other reader reads the tensor directly, and each repeat has an identity of its own
(`nas.ir.canonical._collapse_identities`).

The work is revision 0004's, unchanged: every row gets what the running `nas.ir` computes, rows
that are now one network merge into the oldest (trials, evaluations and costs move to it), a WL
collision gets the driver's re-derived key, Optuna's "arch_hash" attributes follow, and
unreadable rows stay as they are. Its code is loaded from its file rather than copied, so the two
cannot drift (a migration file is never edited once released).

Downgrade: a no-op, as 0004's (the old hashes cannot be recomputed).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")


def _rehash_0004() -> ModuleType:
    """Revision 0004's module (Alembic loads migration files by path, not as a package)."""
    path = Path(__file__).with_name("0004_rehash_ir_v2.py")
    spec = importlib.util.spec_from_file_location("nas_migration_0004", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    rehash = _rehash_0004()
    bind = op.get_bind()
    plan = rehash._plan(bind)
    for dup, kept in plan.merge.items():
        rehash._merge(bind, dup, kept)
    rehash._rewrite(bind, plan.keep)
    rehash._rename_optuna_attrs(bind, plan.renames)
    if plan.merge or plan.renames:
        log.info(
            "rehashed architectures (private identities): %d new hashes, %d rows merged into the same network",
            len(plan.renames),
            len(plan.merge),
        )


def downgrade() -> None:
    pass
