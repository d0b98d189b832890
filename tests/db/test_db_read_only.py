"""`db.connect(url, read_only=True)`: reads without creating, migrating or writing anything.

The backend-independent checks run on every backend (`url` fixture); the SQLite ones check the
file and its -wal/-shm byte for byte, with a writer in another process live or dead.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

import db
from db._schema import alembic_config

ROOT = Path(__file__).resolve().parents[2]


def _fill(url: str) -> None:
    with db.connect(url) as store:
        store.create_or_get_search(
            "s1",
            space="skipdag",
            space_options={},
            dataset="fashion-mnist",
            train_config={},
            objectives=["val_accuracy"],
            config={},
            code_version="t",
            optuna_study_name="nas:s1",
            input_shape=(1, 28, 28),
            num_classes=10,
        )
        store.upsert_architecture("a" * 64, "{}", 10, 20, {}, input_shape=(1, 28, 28), num_classes=10)
        trial = store.start_trial("s1", 0, "a" * 64, "k")
        store.finish_trial(trial, "complete", val_accuracy=0.5)


def _files(path: Path) -> dict[str, str]:
    """sha256 of the database file and of any -wal, -shm or -journal next to it."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.parent.iterdir())
        if p.name == path.name or p.name.startswith(path.name + "-")
    }


def test_a_database_without_nas_tables_is_refused_and_left_alone(url, raw_engine):
    with raw_engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE someone_elses (x INTEGER)"))
    with pytest.raises(db.DatabaseError) as info:
        db.connect(url, read_only=True)
    message = str(info.value)
    assert message.startswith("not a nas database: ") and "no nas_ tables" in message
    assert db._engine.mask(url) in message and "point --db at a database written by `nas search`" in message
    assert "\n" not in message
    assert sa.inspect(raw_engine).get_table_names() == ["someone_elses"]


def test_a_read_only_store_reads_and_refuses_writes(url, raw_engine):
    _fill(url)
    ro = db.connect(url, read_only=True)
    assert ro.read_only and not db.connect(url).read_only
    assert [r.params for r in ro.leaderboard("s1")] == [10]
    assert ro.get_search("s1").input_shape == (1, 28, 28)
    assert [s.name for s in ro.list_searches()] == ["s1"]
    with pytest.raises(db.DatabaseError, match="read-only") as info:
        ro.upsert_architecture("b" * 64, "{}", 1, 1, {})
    assert "\n" not in str(info.value)
    with pytest.raises(db.DatabaseError, match="read-only"):
        ro.set_search_status("s1", "failed")
    with pytest.raises(db.DatabaseError, match="read-only"):
        db.optuna_storage(ro)
    assert ro.get_architecture("b" * 64) is None and ro.get_search("s1").status == "running"
    assert "studies" not in sa.inspect(raw_engine).get_table_names()  # Optuna's tables were not made
    ro.close()


def test_writing_after_reading_read_only_in_the_same_process(url):
    _fill(url)
    ro = db.connect(url, read_only=True)
    rw = db.connect(url)
    assert rw.engine is not ro.engine  # cached apart: the reader's engine never writes
    assert db.connect(url, read_only=True).engine is ro.engine and db.connect(url).engine is rw.engine
    rw.upsert_architecture("c" * 64, "{}", 1, 1, {})
    assert ro.get_architecture("c" * 64) is not None  # the reader sees the commit
    ro.close()
    rw.upsert_architecture("d" * 64, "{}", 1, 1, {})  # closing the reader leaves the writer alone
    rw.close()


def test_missing_sqlite_file_then_a_writer_creates_it(tmp_path):
    path = tmp_path / "sub" / "new.db"
    url = f"sqlite:///{path}"
    with pytest.raises(db.DatabaseError, match="no database file") as info:
        db.connect(url, read_only=True)
    assert str(info.value) == (
        f"database error on {url}: no database file at {path} (run a search first or pass the right URL)"
    )
    assert not path.parent.exists()  # no mkdir either
    _fill(url)
    assert db.connect(url, read_only=True).get_search("s1") is not None


def test_older_schema_says_to_run_a_writing_command_newer_says_upgrade_nas(url, raw_engine, tmp_path):
    cfg = alembic_config()
    with raw_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    path = Path(raw_engine.url.database or "") if raw_engine.dialect.name == "sqlite" else None
    before = _files(path) if path else None
    with pytest.raises(db.DatabaseError) as info:
        db.connect(url, read_only=True)
    message = str(info.value)
    assert "schema revision 0001, older than this nas" in message and "`nas search`" in message
    assert "\n" not in message
    if path:
        assert _files(path) == before
    with raw_engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT version_num FROM {db.VERSION_TABLE}")).scalar() == "0001"
    db.connect(url).close()  # a writer migrates it ...
    db.connect(url, read_only=True).close()  # ... and then it reads

    with raw_engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {db.VERSION_TABLE} SET version_num = '9999_future'"))
    with pytest.raises(db.DatabaseError) as info:
        db.connect(url, read_only=True)
    assert "9999_future" in str(info.value) and "upgrade nas" in str(info.value)


def test_read_only_connect_does_not_load_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    _fill(url)
    code = (
        "import sys, db; s = db.connect(sys.argv[1], read_only=True); s.leaderboard('s1'); s.list_searches(); "
        "print(sorted(m for m in ('alembic', 'optuna', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code, url], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- SQLite: the file and its -wal/-shm stay byte-identical -----------------------------------

WRITER = textwrap.dedent(
    """
    import os, sys
    import db
    store = db.connect(sys.argv[1])
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")  # keep the commits in the -wal
    store.upsert_architecture("e" * 64, "{}", 7, 7, {})
    print("written", flush=True)
    if sys.argv[2] == "crash":
        os._exit(0)  # no checkpoint, no clean-up: the -wal and -shm stay behind
    sys.stdin.readline()
    store.close()
    """
)


@pytest.mark.parametrize("writer", ["live", "crash"])
def test_sqlite_wal_with_a_writer_elsewhere_is_read_without_a_byte_changed(tmp_path, writer):
    path = tmp_path / "nas.db"
    url = f"sqlite:///{path}"
    _fill(url)
    db.connect(url).close()  # checkpointed; no -wal or -shm left
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, url, writer],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
        before = _files(path)
        assert {"nas.db-wal", "nas.db-shm"} <= set(before)
        ro = db.connect(url, read_only=True)
        assert ro.get_architecture("e" * 64).params == 7  # the commit that is only in the -wal
        assert [r.params for r in ro.leaderboard("s1")] == [10]
        ro.close()
        assert _files(path) == before
    finally:
        if proc.poll() is None:
            proc.communicate("\n", timeout=60)
        proc.wait(timeout=60)


def test_sqlite_wal_file_without_wal_is_read_without_creating_files(tmp_path):
    path = tmp_path / "nas.db"
    url = f"sqlite:///{path}"
    _fill(url)
    db.connect(url).close()
    before = _files(path)
    assert list(before) == ["nas.db"] and path.read_bytes()[18] == 2  # a WAL-mode file, all checkpointed
    ro = db.connect(url, read_only=True)
    assert [r.params for r in ro.leaderboard("s1")] == [10]
    ro.close()
    assert _files(path) == before


def test_a_writer_that_closes_while_a_reader_opens_is_read_after_all(tmp_path, monkeypatch):
    """A reader picks its mode from the files beside the database (`sqlite_read_only_uri`):
    with a -wal and a -shm, `readonly_shm`. If the last writer closes right then, SQLite
    checkpoints and deletes both, and that mode cannot open the file ("unable to open database
    file"; seen in a fault test reading right after a search ended). The reader decides again."""
    import sqlite3

    from db import _engine

    path = tmp_path / "nas.db"
    url = f"sqlite:///{path}"
    _fill(url)
    db.connect(url).close()
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("UPDATE nas_architectures SET params = 11")
    writer.execute("UPDATE nas_architecture_costs SET params = 11")
    writer.commit()  # the commit is in the -wal only, until the writer closes
    assert (tmp_path / "nas.db-wal").exists() and (tmp_path / "nas.db-shm").exists()
    decide, modes = _engine.sqlite_read_only_uri, []

    def decided_then_the_writer_closes(p: Path) -> str:
        uri = decide(p)
        if not modes:
            writer.close()  # the last connection: checkpoint, -wal and -shm deleted
            assert not (tmp_path / "nas.db-wal").exists()
        modes.append(uri.partition("&")[2])
        return uri

    monkeypatch.setattr(_engine, "sqlite_read_only_uri", decided_then_the_writer_closes)
    ro = db.connect(url, read_only=True)
    try:
        assert [r.params for r in ro.leaderboard("s1")] == [11]
    finally:
        ro.close()
    assert modes[:2] == ["readonly_shm=1", "immutable=1"]
    # SQLite's failed readonly_shm open left an empty -wal; an empty one is read as none (no -shm made)
    assert {p.name: p.stat().st_size for p in tmp_path.iterdir() if p.name != "nas.db"} == {"nas.db-wal": 0}
