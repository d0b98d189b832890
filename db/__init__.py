"""Persistence for `nas`: one SQL database holds Optuna's tables and the project's ``nas_`` ones.

    import db
    store = db.connect("sqlite:///runs/nas.db")
    reader = db.connect("sqlite:///theirs.db", read_only=True)   # never creates, migrates or writes
    search = store.create_or_get_search("cifar-1", space="skipdag", ...)
    for row in store.leaderboard("cifar-1", top=10):
        print(row.rank, row.hash[:12], row.val_accuracy, row.params)

    with store.transaction():               # one transaction, Optuna's writes included
        store.finish_trial(trial_id, "complete", val_accuracy=0.91)
        study.tell(trial, 0.91)             # study on db.optuna_storage(store)

Only the search driver writes. Every method returns frozen records (`db._records`); failures the
user can fix raise `DatabaseError` with a one-line message. This package never imports torch.

Lives here: the schema, its migrations, the Store and Optuna's storage on the same engine.
May import: sqlalchemy, alembic (lazily: a read-only connect never loads it), and optuna lazily
(db._optuna); of the project only `nas.ir`, lazily, in migrations 0004 and 0005 (they recompute stored
architectures' canonical forms and hashes); never workers or torch.
"""

from __future__ import annotations

import weakref

from sqlalchemy.engine import Engine

from db._engine import SessionFactory, create_engine, forget_engine, mask, optuna_engine_kwargs
from db._errors import AmbiguousHashError, DatabaseError, NotFoundError
from db._optuna import optuna_error, optuna_storage
from db._records import (
    BUDGET_TRIAL_STATES,
    EPOCH_FIELDS,
    FINISHED_TRIAL_STATES,
    SEARCH_STATUSES,
    SORT_KEYS,
    TRIAL_STATES,
    ArchitectureRecord,
    ArtifactRecord,
    CostRecord,
    EpochRecord,
    EvaluationRecord,
    LeaderboardRow,
    SearchOverview,
    SearchRecord,
    TrialRecord,
)
from db._store import Store
from db._version import VERSION_TABLE, check_read_only

__all__ = [
    "BUDGET_TRIAL_STATES",
    "EPOCH_FIELDS",
    "FINISHED_TRIAL_STATES",
    "SEARCH_STATUSES",
    "SORT_KEYS",
    "TRIAL_STATES",
    "VERSION_TABLE",
    "AmbiguousHashError",
    "ArchitectureRecord",
    "ArtifactRecord",
    "CostRecord",
    "DatabaseError",
    "EpochRecord",
    "EvaluationRecord",
    "LeaderboardRow",
    "NotFoundError",
    "SearchRecord",
    "SearchOverview",
    "Store",
    "TrialRecord",
    "connect",
    "optuna_engine_kwargs",
    "optuna_error",
    "optuna_storage",
]


# Engines whose schema this process has checked (or migrated): once per engine is enough.
_UP_TO_DATE: weakref.WeakSet[Engine] = weakref.WeakSet()


def connect(url: str, *, create: bool = True, read_only: bool = False) -> Store:
    """Open the database at `url`, creating or upgrading the ``nas_`` tables, and return a Store.

    Args:
        url: any SQLAlchemy URL, e.g. ``sqlite:///runs/nas.db`` (parent directories are
            created; WAL mode, a 30 s busy timeout and foreign keys are switched on) or
            ``postgresql+psycopg://user:password@host/dbname``.
        create: when False, a missing SQLite file is an error instead of a new database.
        read_only: for commands that only read (leaderboard, searches, show, export): nothing
            is created, migrated or written, and the file is left byte-identical (a SQLite file
            is opened read-only and keeps its journal mode; on PostgreSQL every transaction is
            READ ONLY). The schema version is read from ``nas_alembic_version`` (Alembic is not
            loaded). Writing through such a Store fails with a `DatabaseError`. Its engine is
            not the read-write one, so a later plain `connect` in the same process still writes.

    Raises:
        DatabaseError: bad or unsupported URL, missing driver, unreachable server, a directory
            where the file should be, or a schema newer than this code (one-line message); with
            `read_only`, also a missing file, a database without ``nas_`` tables, or an older
            schema (a writing command migrates it).
    """
    if read_only:
        return _connect_read_only(url)
    engine = create_engine(url, create=create)
    shown = mask(url)
    if engine not in _UP_TO_DATE:
        from db._schema import upgrade  # Alembic: only where the schema may change

        try:
            upgrade(engine, shown)
        except BaseException:
            forget_engine(engine)
            raise
        _UP_TO_DATE.add(engine)
    # The resolved URL (e.g. '~' expanded) is what Optuna's storage should be given too.
    return Store(SessionFactory(engine, shown), engine.url.render_as_string(hide_password=False))


def _connect_read_only(url: str) -> Store:
    engine = create_engine(url, read_only=True)
    shown = mask(url)
    if engine not in _UP_TO_DATE:
        try:
            check_read_only(engine, shown)
        except BaseException:
            forget_engine(engine)
            raise
        _UP_TO_DATE.add(engine)
    return Store(SessionFactory(engine, shown, read_only=True), engine.url.render_as_string(hide_password=False))
