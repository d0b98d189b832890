"""What every part of the `Store` shares: the session factory, the URL, transactions and the
row lookups that turn a missing name, hash or id into `NotFoundError`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from db._engine import SessionFactory, forget_engine, mask
from db._errors import NotFoundError
from db._models import ArchitectureModel, SearchModel, TrialModel


class StoreBase:
    """The state and helpers behind `Store`; the concept modules add the methods.

    Args:
        sessions: the session factory (engine plus the commit/rollback/translate scope).
        url: the resolved URL, password included: give this one to Optuna's RDBStorage.
    """

    def __init__(self, sessions: SessionFactory, url: str) -> None:
        self._session = sessions
        self.url = url
        self.display_url = mask(url)

    # lifecycle

    def close(self) -> None:
        """Release the engine's connections (a later `db.connect` opens new ones)."""
        forget_engine(self._session.engine)

    def __enter__(self) -> StoreBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.display_url!r})"

    @property
    def backend(self) -> str:
        """The SQL dialect in use: 'sqlite', 'postgresql', ..."""
        return self._session.engine.dialect.name

    @property
    def read_only(self) -> bool:
        """Whether this Store was opened with `db.connect(url, read_only=True)` (writes fail)."""
        return self._session.read_only

    @property
    def engine(self) -> Engine:
        """The process's one engine for this database (shared with Optuna's storage)."""
        return self._session.engine

    @property
    def sessions(self) -> SessionFactory:
        return self._session

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Make everything written inside the block one transaction: the Store's methods and
        Optuna's storage from `db.optuna_storage(store)` alike. All of it lands, or none of it.

            with store.transaction():
                store.finish_trial(trial_id, "complete", val_accuracy=0.9)
                study.tell(trial, 0.9)
        """
        with self._session.transaction():
            yield

    # internal lookups

    def _search(self, s: Session, name: str) -> SearchModel:
        row = s.scalar(sa.select(SearchModel).where(SearchModel.name == name))
        if row is None:
            raise NotFoundError(f"no search named {name!r} in {self.display_url}")
        return row

    def _arch(self, s: Session, arch_hash: str) -> ArchitectureModel:
        row = s.scalar(sa.select(ArchitectureModel).where(ArchitectureModel.hash == arch_hash))
        if row is None:
            raise NotFoundError(f"no architecture with hash {arch_hash!r}; call upsert_architecture first")
        return row

    def _trial(self, s: Session, trial_id: int) -> TrialModel:
        row = s.get(TrialModel, trial_id)
        if row is None:
            raise NotFoundError(f"no trial with id {trial_id} in {self.display_url}")
        return row
