"""Optuna's storage on the Store's own engine, inside the Store's transactions.

`optuna_storage(store)` gives an `optuna.storages.RDBStorage` for the same database that uses the
process's one engine (no second pool, no second schema check) and whose sessions join an open
`store.transaction()`, so a trial's ``nas_`` rows and Optuna's ``study.tell`` land together or not
at all. Optuna is imported here only, on first use: the read commands never load it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from db._engine import optuna_engine_kwargs, translate
from db._errors import DatabaseError

if TYPE_CHECKING:
    from optuna.storages import RDBStorage
    from sqlalchemy.orm import Session

    from db._base import StoreBase


class _TransactionSessions:
    """Stands in for RDBStorage's `scoped_session`: a new session per use, bound to the Store's
    open transaction when there is one (Optuna's commit then only flushes)."""

    def __init__(self, store: StoreBase) -> None:
        self._sessions = store.sessions

    def __call__(self) -> Session:
        return self._sessions.new_session()

    def remove(self) -> None:
        """Nothing is kept between uses (Optuna calls this from `remove_session`)."""


def optuna_storage(store: StoreBase) -> RDBStorage:
    """An `RDBStorage` for `store`'s database on `store`'s engine and transactions.

    On a read-only Store (`db.connect(url, read_only=True)`, e.g. `nas plot`) the storage reads
    Optuna's existing tables and creates nothing; a study can be loaded and read, and any write
    fails with a `DatabaseError`.

    Raises:
        DatabaseError: Optuna's tables cannot be created (read-only: are missing) or are of an
            incompatible version.
    """
    import sqlalchemy as sa
    import sqlalchemy.exc as sa_exc
    from optuna.exceptions import StorageInternalError

    if store.read_only:
        try:
            with store.engine.connect() as connection:
                has_tables = sa.inspect(connection).has_table("studies")
        except sa_exc.SQLAlchemyError as e:
            raise translate(e, store.display_url, read_only=True) from e
        if not has_tables:
            raise DatabaseError(
                f"cannot open Optuna's storage on {store.display_url}: the Store is read-only and the database "
                "has no Optuna tables (connect without read_only=True to run a study)",
                url=store.display_url,
            )
    from optuna.storages import RDBStorage
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _VersionManager

    class StoreStorage(RDBStorage):
        """RDBStorage set up as its own `__setstate__` does, but on the Store's engine and
        sessions instead of a new engine of its own."""

        def __init__(self) -> None:  # RDBStorage.__init__ would build and connect a second engine
            self.url = store.url
            self.engine_kwargs = optuna_engine_kwargs(store.url)
            self.skip_compatibility_check = False
            self.heartbeat_interval = None
            self.grace_period = None
            self.heartbeat_stale_trial_callback = None
            self.failed_trial_callback = None
            self.engine = store.engine
            self.scoped_session = _TransactionSessions(store)  # type: ignore[assignment]
            if not store.read_only:
                models.BaseModel.metadata.create_all(self.engine)
            self._version_manager = _VersionManager(self.url, self.engine, self.scoped_session)
            self._version_manager.check_table_schema_compatibility()

        def delete_trial_system_attrs(self, trial_id: int, prefix: str) -> None:
            """Delete a trial's system attributes whose key starts with `prefix` (a sampler's
            scratch data that is of no use once the trial is told: nas.search._tpe). Optuna has
            no call for it; in an open `store.transaction()` it joins that transaction."""
            model = models.TrialSystemAttributeModel
            session = self.scoped_session()
            try:
                session.query(model).filter(model.trial_id == trial_id, model.key.startswith(prefix)).delete(
                    synchronize_session=False
                )
                session.commit()
            finally:
                session.close()

    try:
        return StoreStorage()
    except sa_exc.SQLAlchemyError as e:
        raise translate(e, store.display_url, read_only=store.read_only) from e
    except StorageInternalError as e:  # Optuna's wrapping of a driver error
        raise optuna_error(store, e) or e from e


def optuna_error(store: StoreBase, exc: BaseException) -> DatabaseError | None:
    """The one-line `DatabaseError` for a database failure that surfaced through Optuna's storage
    (its `StorageInternalError` wraps the driver's error: a locked or damaged database); None
    for any other exception."""
    cause = exc.__cause__
    if type(exc).__name__ != "StorageInternalError" or cause is None:
        return None
    import sqlalchemy.exc as sa_exc

    if not isinstance(cause, sa_exc.SQLAlchemyError):
        return None
    return translate(cause, store.display_url, read_only=store.read_only)
