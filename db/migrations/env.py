"""Alembic environment for the project's ``nas_`` tables.

Run programmatically by `db.connect` (which passes an open connection in
``config.attributes["connection"]``). Developers can also use the alembic command line with
the ini file next to this one, e.g. to draft a new revision after changing `db/_models.py`:

    alembic -c db/migrations/alembic.ini -x url=sqlite:///scratch.db upgrade head
    alembic -c db/migrations/alembic.ini -x url=sqlite:///scratch.db \
        revision --autogenerate -m "..."

Optuna's tables share the database; `include_object` hides them so autogenerate never proposes
dropping them, and the version table is `nas_alembic_version`, not Optuna's `alembic_version`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context

from db._models import Base
from db._schema import VERSION_TABLE, include_object

config = context.config
target_metadata = Base.metadata


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_object=include_object,
        render_as_batch=True,  # SQLite alters tables by copy-and-move
        compare_type=True,
        **kwargs,
    )


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database URL: alembic ... -x url=sqlite:///path/to/nas.db")
    return url


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(_url(), poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
