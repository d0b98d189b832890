"""The database itself at fault: locked by another connection for a while, or truncated.

Locked: the driver waits for a lock up to SQLite's busy timeout (`db._engine.SQLITE_BUSY_TIMEOUT_S`,
30 s) and goes on; held longer, the search stops with one line naming the lock, losing nothing,
and the same command resumes it. Truncated: every command refuses the file in one line (exit 2,
no traceback) and leaves it byte-identical.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import db
from nas.cli import main
from tests.faults.checks import assert_consistent, completed
from tests.faults.spaces import CLI
from tests.faults.test_faults_kill import ROOT, TINY, resume, search_args


def _hold_lock(path: Path, seconds: float, when) -> threading.Thread:
    """A thread that waits for `when()`, then holds an exclusive write lock on `path` (a plain
    sqlite3 connection in BEGIN EXCLUSIVE, as a backup tool or a shell user might) for `seconds`."""

    def hold() -> None:
        deadline = time.monotonic() + 120
        while not when() and time.monotonic() < deadline:
            time.sleep(0.05)
        conn = sqlite3.connect(path, timeout=60, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            time.sleep(seconds)
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    return thread


def test_a_search_waits_out_a_lock_held_for_a_few_seconds_and_finishes(tmp_path, capsys):
    args = search_args(tmp_path, *TINY, trials=1)
    url, path = f"sqlite:///{tmp_path}/nas.db", tmp_path / "nas.db"
    resume(args, capsys)  # the database and a first completed trial
    before = completed(url, "f")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")  # as a backup tool or a shell user might
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, *search_args(tmp_path, *TINY, trials=3)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(5.0)
        assert proc.poll() is None, proc.communicate()[1][-3000:]  # waiting for the lock: it cannot write
    finally:
        conn.execute("ROLLBACK")
        conn.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    assert_consistent(url, "f", before=before, trials=3)


def test_a_lock_held_past_the_busy_timeout_stops_the_search_in_one_line_losing_nothing(tmp_path, capsys, monkeypatch):
    import db._engine

    monkeypatch.setattr(db._engine, "SQLITE_BUSY_TIMEOUT_S", 1.0)  # not 30 s, to keep the test short
    args = search_args(tmp_path, *TINY, "--epochs", "3", trials=4)
    url, path = f"sqlite:///{tmp_path}/nas.db", tmp_path / "nas.db"

    def first_complete() -> bool:
        return len(completed(url, "f")) >= 1

    holder = _hold_lock(path, 6.0, when=first_complete)  # while the driver goes on
    capsys.readouterr()
    rc = main(args)
    err = capsys.readouterr().err
    holder.join(timeout=60)
    lines = err.strip().splitlines()
    assert rc == 2, err[-3000:]
    assert "Traceback" not in err and len(lines) == 1, err[-3000:]
    assert "database is locked" in lines[0] and "held a write lock for over 1 s" in lines[0], lines
    before = completed(url, "f")
    assert len(before) >= 1
    monkeypatch.undo()
    resume(args, capsys)  # the same command resumes the search
    report = assert_consistent(url, "f", before=before, trials=4)
    print(f"stopped with: {lines[0]}; resumed: {report}")


# ---- a truncated database file ------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_db(tmp_path_factory) -> Path:
    """A database written by a real tiny search (with weights), its writer closed."""
    from nas.search.config import SearchConfig
    from nas.search.driver import run_search

    path = tmp_path_factory.mktemp("real") / "nas.db"
    run_search(
        SearchConfig(
            name="f",
            db=f"sqlite:///{path}",
            dataset="synthetic",
            subset=300,
            trials=3,
            executor="local",
            sampler="random",
            pruner="none",
            train={"epochs": 1, "batch_size": 64},
            space="fault-tiny",
        )
    )
    db.connect(f"sqlite:///{path}").close()  # checkpointed: -wal and -shm gone
    assert not path.with_name("nas.db-wal").exists()
    return path


# where the file is cut: inside the header, after the first page, halfway, one page short, one byte short
CUTS = {"50 bytes": lambda n: 50, "one page": lambda n: 4096, "half": lambda n: n // 2 // 4096 * 4096}
CUTS |= {"one page short": lambda n: n - 4096, "one byte short": lambda n: n - 1}


def _commands(url: str, tmp: Path) -> dict[str, list[str]]:
    return {
        "search (resume)": search_args(tmp, *TINY, trials=4)[:4] + [url] + search_args(tmp, *TINY, trials=4)[5:],
        "searches": ["searches", "--db", url],
        "leaderboard": ["leaderboard", "--db", url],
        "show": ["show", "0", "--db", url],
        "evaluate": ["evaluate", "--db", url, "--top", "1", "--epochs", "1", "--dataset", "synthetic"],
        "export": ["export", "--db", url, "--out", str(tmp / "exported")],
        "plot": ["plot", "--db", url, "--out", str(tmp / "plots")],
    }


@pytest.mark.parametrize("cut", CUTS)
def test_every_command_refuses_a_truncated_database_and_leaves_it_as_it_is(cut, real_db, tmp_path, capsys):
    path = tmp_path / "nas.db"
    shutil.copy(real_db, path)
    with open(path, "r+b") as f:
        f.truncate(CUTS[cut](real_db.stat().st_size))
    url = f"sqlite:///{path}"
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    for command, argv in _commands(url, tmp_path).items():
        capsys.readouterr()
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        assert rc == 2, (command, rc, err[-2000:])
        assert len(lines) == 1 and lines[0].startswith("nas: error: "), (command, err[-2000:])
        assert "Traceback" not in err + out, command
        assert str(path) in lines[0] and ("truncated" in lines[0] or "not a database" in lines[0]), (command, lines)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha, f"{command} changed the file"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["nas.db"], f"{command} left files"
