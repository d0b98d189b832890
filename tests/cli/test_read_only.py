"""The read commands (searches, leaderboard, show) never create tables, migrate or switch the
journal mode: the database file, and any -wal/-shm/-journal next to it, are byte-identical
afterwards, whatever the file holds (nothing, someone else's tables, Optuna's alone, a real
nas search). A file that is not a nas database is refused in one line (exit 2).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

import db
from nas.cli import main

ROOT = Path(__file__).resolve().parents[2]
SEARCH = "ro-t"
READS = (("searches",), ("leaderboard",), ("leaderboard", "--all", "--format", "json"), ("show", "0"))


def files(path: Path) -> dict[str, str]:
    """sha256 of the database file and of every -wal, -shm or -journal beside it."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.parent.iterdir())
        if p.name == path.name or p.name.startswith(path.name + "-")
    }


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def nas_db(tmp_path_factory) -> Path:
    """A database written by a real tiny search, its writer closed (as someone else's file is)."""
    from nas.search.config import SearchConfig
    from nas.search.driver import run_search

    path = tmp_path_factory.mktemp("nas") / "search.db"
    url = f"sqlite:///{path}"
    run_search(
        SearchConfig(
            name=SEARCH,
            db=url,
            dataset="synthetic",
            subset=300,
            trials=3,
            executor="local",
            sampler="random",
            pruner="none",
            train={"epochs": 1, "batch_size": 64},
            space_options={"widths": [[8]], "depth": [1, 2]},
        )
    )
    db.connect(url).close()  # close the process's engine: WAL checkpointed, -wal/-shm gone
    return path


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _unrelated(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('mine')")
    conn.close()


def _optuna_only(path: Path) -> None:
    storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
    study = optuna.create_study(storage=storage, study_name="theirs")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    storage.engine.dispose()


@pytest.mark.parametrize("make", [_empty, _unrelated, _optuna_only], ids=["empty", "unrelated", "optuna-only"])
def test_a_database_that_is_not_nas_is_refused_and_left_byte_identical(make, tmp_path, capsys):
    path = tmp_path / "theirs.db"
    make(path)
    url = f"sqlite:///{path}"
    before = files(path)
    journal_mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    for argv in READS:
        rc, out, err = cli(capsys, *argv, "--db", url)
        assert rc == 2 and out == "", argv
        assert err.count("\n") == 1, err
        assert err == (
            f"nas: error: not a nas database: {url} has no nas_ tables; "
            "point --db at a database written by `nas search`\n"
        )
        assert files(path) == before, argv
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == journal_mode != "wal"
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    conn.close()
    assert not any(n.startswith("nas_") for n in names)


def test_a_real_nas_database_is_read_and_left_byte_identical(nas_db, capsys):
    url = f"sqlite:///{nas_db}"
    before = files(nas_db)
    assert list(before) == [nas_db.name]  # WAL mode, every commit in the file
    for argv in READS:
        rc, out, err = cli(capsys, *argv, "--db", url)
        assert rc == 0, (argv, err)
        assert files(nas_db) == before, argv
    rows = json.loads(cli(capsys, "leaderboard", "--db", url, "--format", "json")[1])
    assert rows and {r["search"] for r in rows} == {SEARCH}
    assert files(nas_db) == before


def test_writing_after_reading_in_the_same_process(nas_db, tmp_path, capsys):
    copy = tmp_path / "copy.db"
    with sqlite3.connect(nas_db) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    url = f"sqlite:///{copy}"
    assert cli(capsys, "searches", "--db", url)[0] == 0
    store = db.connect(url)  # the read-write engine, not the reader's
    store.set_search_status(SEARCH, "interrupted")
    rc, out, _ = cli(capsys, "searches", "--db", url, "--format", "json")
    assert rc == 0 and json.loads(out)[0]["status"] == "interrupted"
    store.close()


def test_missing_file_is_one_line_and_exit_2(tmp_path, capsys):
    missing = tmp_path / "no" / "such.db"
    for argv in READS:
        rc, _, err = cli(capsys, *argv, "--db", f"sqlite:///{missing}")
        assert rc == 2 and err.count("\n") == 1
        assert f"no database file at {missing} (run a search first or pass the right URL)" in err
    assert not missing.parent.exists()


def test_read_commands_load_neither_alembic_nor_optuna(nas_db):
    code = (
        "import sys; from nas.cli import main\n"
        "for argv in (['searches'], ['leaderboard'], ['show', '0']):\n"
        "    assert main(argv + ['--db', sys.argv[1]]) == 0\n"
        "print(sorted(m for m in ('alembic', 'optuna', 'torch', 'ray') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, f"sqlite:///{nas_db}"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
