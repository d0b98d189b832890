"""Connecting, SQLite settings, migrations and living next to Optuna's tables."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import db
from db._models import Base
from db._schema import alembic_config, head_revisions, include_object


def _schema_diffs(engine: sa.Engine) -> list:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_object": include_object,
                "compare_type": True,
                "version_table": db.VERSION_TABLE,
            },
        )
        return compare_metadata(ctx, Base.metadata)


def test_migrated_schema_matches_models(url, raw_engine):
    db.connect(url).close()
    assert _schema_diffs(raw_engine) == []
    tables = set(sa.inspect(raw_engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    assert db.VERSION_TABLE in tables and "alembic_version" not in tables
    with raw_engine.connect() as conn:
        version = conn.execute(sa.text(f"SELECT version_num FROM {db.VERSION_TABLE}")).scalars()
        assert set(version) == head_revisions()


def test_migrations_downgrade_and_upgrade_again(url, raw_engine):
    db.connect(url).close()
    cfg = alembic_config()
    with raw_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert not any(t.startswith("nas_searches") for t in sa.inspect(raw_engine).get_table_names())
    store = db.connect(url)  # upgrades again
    store.upsert_architecture("e" * 64, "{}", 1, 1, {})
    store.close()
    assert _schema_diffs(raw_engine) == []


def test_reconnect_keeps_data(url):
    with db.connect(url) as first:
        first.upsert_architecture("a" * 64, "{}", 10, 20, {"k": 1})
    with db.connect(url) as second:
        assert second.get_architecture("a" * 8).params == 10


def test_newer_schema_is_refused(url, raw_engine):
    db.connect(url).close()
    with raw_engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {db.VERSION_TABLE} SET version_num = '9999_future'"))
    with pytest.raises(db.DatabaseError) as info:
        db.connect(url)
    assert "9999_future" in str(info.value) and "upgrade nas" in str(info.value)
    assert "\n" not in str(info.value)


def test_optuna_shares_the_database(url, raw_engine):
    store = db.connect(url)
    store.create_or_get_search(
        "shared",
        space="skipdag",
        space_options={},
        dataset="cifar10",
        train_config={},
        objectives=["val_accuracy:maximize"],
        config={},
        code_version="x",
        optuna_study_name="nas-shared",
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(
        store.url, engine_kwargs=db.optuna_engine_kwargs(store.url)
    )  # store.url: resolved, password included
    study = optuna.create_study(storage=storage, study_name="nas-shared", direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=3)
    store.close()
    storage.engine.dispose()

    # Both sides reopen cleanly and still see their own data.
    reopened = optuna.load_study(study_name="nas-shared", storage=url)
    assert len(reopened.trials) == 3
    with db.connect(url) as again:
        assert again.get_search("shared").optuna_study_name == "nas-shared"
    tables = set(sa.inspect(raw_engine).get_table_names())
    assert {"studies", "trials", "alembic_version"} <= tables  # Optuna's
    assert {"nas_searches", "nas_trials", db.VERSION_TABLE} <= tables  # ours
    assert _schema_diffs(raw_engine) == []  # Optuna's tables are not ours to migrate


# --- SQLite specifics --------------------------------------------------------------------------


def test_sqlite_wal_busy_timeout_and_foreign_keys(tmp_path):
    path = tmp_path / "deep" / "er" / "nas.db"  # parent directories are created
    store = db.connect(f"sqlite:///{path}")
    assert store.backend == "sqlite"
    engine = store._session.engine
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.close()
    # WAL is a property of the file: an unrelated client sees it too.
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_readers_are_not_blocked_by_a_writer(tmp_path):
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    store = db.connect(url)
    store.upsert_architecture("b" * 64, "{}", 1, 1, {})
    writer = sqlite3.connect(tmp_path / "nas.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # holds the write lock
    writer.execute("UPDATE nas_architectures SET params = 2")
    try:
        assert store.get_architecture("b" * 64).params == 1  # reads the last commit
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        store.close()


def test_sqlite_foreign_keys_enforced(tmp_path):
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    with db.connect(url) as store:
        engine = store._session.engine
        with pytest.raises(sa.exc.IntegrityError):
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO nas_epoch_metrics (trial_id, epoch) VALUES (12345, 0)"))


def test_connect_read_only_needs_an_existing_file(tmp_path):
    missing = tmp_path / "absent.db"
    with pytest.raises(db.DatabaseError, match="no database file"):
        db.connect(f"sqlite:///{missing}", create=False)
    assert not missing.exists()
    db.connect(f"sqlite:///{missing}").close()
    db.connect(f"sqlite:///{missing}", create=False).close()


def test_in_memory_sqlite_works():
    with db.connect("sqlite://") as store:
        store.upsert_architecture("c" * 64, "{}", 1, 1, {})
        assert store.get_architecture("ccc").hash == "c" * 64


# --- bad URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, expected",
    [
        ("nosuchdb://host/x", "no SQLAlchemy dialect 'nosuchdb'"),
        ("runs/nas.db", "did you mean sqlite:///runs/nas.db"),
        ("", "empty database URL"),
        ("postgresql+psycopg://nas:hunter2@127.0.0.1:1/nas", "127.0.0.1"),
        ("sqlite:///{tmp}", "is a directory"),
        ("sqlite:///{tmp}/file.txt/nas.db", "cannot create directory"),
    ],
)
def test_bad_url_is_a_one_line_database_error(bad, expected, tmp_path):
    (tmp_path / "file.txt").write_text("not a directory")
    bad = bad.replace("{tmp}", str(tmp_path))
    with pytest.raises(db.DatabaseError) as info:
        db.connect(bad)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert "hunter2" not in message  # passwords are masked
    assert info.value.__suppress_context__ or info.value.__cause__ is None


def test_db_does_not_import_torch():
    code = "import sys, db; db.connect('sqlite://').close(); print('torch' in sys.modules)"
    root = Path(db.__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
