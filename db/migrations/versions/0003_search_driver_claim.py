"""Which driver runs a search: nas_searches.driver and nas_searches.heartbeat_at.

A search is run by one driver process at a time. The driver claims the row with one conditional
UPDATE (`Store.claim_search`) and refreshes `heartbeat_at` while it runs; a second process on the
same name is refused while the claim is fresh. Existing rows start unclaimed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("nas_searches", recreate="never") as batch:
        batch.add_column(sa.Column("driver", sa.String(255), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nas_searches", recreate="never") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("driver")
