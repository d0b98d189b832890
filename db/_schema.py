"""Creating and upgrading the schema with Alembic, run in code on every `db.connect`.

The Alembic config is built here from the package path, so no alembic.ini is needed in the
user's working directory. The version table is `nas_alembic_version`, so Optuna's own Alembic
history (`alembic_version`) in the same database is never touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy.exc as sa_exc
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection, Engine

from db._engine import translate
from db._errors import DatabaseError
from db._models import TABLE_PREFIX
from db._version import VERSION_TABLE

__all__ = ["VERSION_TABLE", "alembic_config", "current_revisions", "head_revisions", "include_object", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic filter: only our own ``nas_`` tables take part (Optuna's are left alone)."""
    if type_ == "table":
        return name is not None and name.startswith(TABLE_PREFIX) and name != VERSION_TABLE
    return True


def alembic_config() -> Config:
    """An Alembic config pointing at `db/migrations`, independent of the working directory."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(connection: Connection) -> set[str]:
    ctx = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return set(ctx.get_current_heads())


def upgrade(engine: Engine, url: str) -> None:
    """Bring the schema to the newest revision (a cheap check when it already is).

    Raises:
        DatabaseError: the server cannot be reached, or the database was made by a newer nas.
    """
    heads = head_revisions()
    try:
        with engine.connect() as connection:
            current = current_revisions(connection)
        if current == heads:
            return
        script = ScriptDirectory.from_config(alembic_config())
        known = {rev.revision for rev in script.walk_revisions()}
        unknown = current - known
        if unknown:
            raise DatabaseError(
                f"database {url} has schema revision {', '.join(sorted(unknown))}, newer than "
                "this nas knows (upgrade nas, or use another database)",
                url=url,
            )
        cfg = alembic_config()
        try:
            with engine.begin() as connection:
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, "head")
        except sa_exc.SQLAlchemyError:
            # Another process may have created the schema between our check and our upgrade.
            with engine.connect() as connection:
                if current_revisions(connection) != heads:
                    raise
    except sa_exc.SQLAlchemyError as e:
        raise translate(e, url) from None
    except CommandError as e:
        raise DatabaseError(f"cannot migrate database {url}: {e} (check the database)", url=url) from None
