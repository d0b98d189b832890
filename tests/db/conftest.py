"""Fixtures for the db contract suite: every test taking `url` or `store` runs once per backend.

SQLite (a file under tmp_path) always; additionally the database named by the environment
variable NAS_TEST_DB_URL when it is set (scripts/postgres-test.sh sets it to a throwaway local
PostgreSQL). That database is wiped before each test, so never point it at real data.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

import db

EXTERNAL_URL = os.environ.get("NAS_TEST_DB_URL")
BACKENDS = ["sqlite"] + (["external"] if EXTERNAL_URL else [])


def _wipe(url: str) -> None:
    """Drop every table (ours, Optuna's, both version tables) in the external test database.

    The process's cached engines for it are forgotten too: they remember that the schema was
    checked, which dropping it behind their back makes untrue.
    """
    from db._engine import _ENGINES, forget_engine

    for engine in list(_ENGINES.values()):
        forget_engine(engine)
    engine = sa.create_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        meta.drop_all(engine)
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A URL of an empty database on one backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nas.db'}"
    _wipe(EXTERNAL_URL)
    return EXTERNAL_URL


@pytest.fixture
def store(url: str) -> Iterator[db.Store]:
    s = db.connect(url)
    yield s
    s.close()


@pytest.fixture
def raw_engine(url: str) -> Iterator[sa.Engine]:
    """A plain engine on the same database, for checks that bypass the Store."""
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def new_search(store: db.Store) -> Callable[..., db.SearchRecord]:
    """Make a search with plausible defaults; keyword arguments override them."""

    def make(name: str = "s1", **overrides) -> db.SearchRecord:
        fields = dict(
            space="skipdag",
            space_options={"stages": 3, "nodes": [2, 4]},
            dataset="fashion_mnist",
            train_config={"epochs": 3, "lr": 0.05},
            objectives=["val_accuracy:maximize"],
            config={"name": name, "trials": 10},
            code_version="0.1.0+abc123",
            optuna_study_name=f"nas-{name}",
        )
        fields.update(overrides)
        return store.create_or_get_search(name, **fields)

    return make


@pytest.fixture
def new_arch(store: db.Store) -> Callable[..., db.ArchitectureRecord]:
    """Make an architecture; `hash` defaults to a fresh 64-hex-digit value."""
    counter = itertools.count(1)

    def make(hash: str | None = None, params: int = 1000, flops: int = 50_000, **summary):
        n = next(counter)
        return store.upsert_architecture(
            hash or f"{n:064x}",
            f'{{"nodes": {n}}}',
            params,
            flops,
            summary or {"conv3x3": n},
        )

    return make
