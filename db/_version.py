"""The schema's revisions as plain data, and the read-only schema check.

`db.connect(url, read_only=True)` must not pay for Alembic (the read commands stay light), so
the revision list lives here as constants; tests/db check it against Alembic's own history. A
new revision in `db/migrations/versions` appends its id to `REVISIONS`.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.exc as sa_exc
from sqlalchemy.engine import Engine

from db._engine import translate
from db._errors import DatabaseError

VERSION_TABLE = "nas_alembic_version"

#: Every revision of the ``nas_`` schema, oldest first; the last one is the head.
REVISIONS: tuple[str, ...] = ("0001", "0002", "0003", "0004", "0005")
HEAD = REVISIONS[-1]

NOT_NAS = "point --db at a database written by `nas search`"


def check_read_only(engine: Engine, url: str) -> None:
    """Check, by reading `VERSION_TABLE` only, that the database holds this nas's schema.

    Raises:
        DatabaseError: no ``nas_`` tables, an older schema (a writing command migrates it), a
            newer one (upgrade nas), or an unreachable database; one line naming `url`.
    """
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table(VERSION_TABLE):
                current: set[str] = set()
            else:
                rows = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
                current = {str(v) for v in rows}
    except sa_exc.SQLAlchemyError as e:
        raise translate(e, url, read_only=True) from None
    if not current:
        raise DatabaseError(f"not a nas database: {url} has no nas_ tables; {NOT_NAS}", url=url, needs_writer=True)
    if current == {HEAD}:
        return
    unknown = current - set(REVISIONS)
    if unknown:
        raise DatabaseError(
            f"database {url} has schema revision {', '.join(sorted(unknown))}, newer than this nas knows "
            "(upgrade nas, or use another database)",
            url=url,
        )
    raise DatabaseError(
        f"database {url} has schema revision {', '.join(sorted(current))}, older than this nas ({HEAD}); "
        "run a command that writes to it once (e.g. resume its search with `nas search`) to migrate it, then retry",
        url=url,
        needs_writer=True,
    )
