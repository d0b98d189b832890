"""SIGTERM at chosen points of the driver, and two drivers on one search name.

The signal comes from the driver itself at a fault point (``NAS_FAULT_POINT=NAME:COUNT:SIGTERM``,
nas/search/_faults.py), so it lands exactly there: mid-training, inside the record transaction,
just after its commit, between ask and record. Right after the signal nothing may be left
running and Optuna must agree with the ``nas_`` rows; after the resume every after-check of
`checks.assert_consistent` holds.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import db
from nas.cli import main
from nas.search import _faults
from tests.faults.checks import assert_consistent, completed
from tests.faults.spaces import CLI
from tests.faults.test_faults_kill import ONE_ARCH, ROOT, TINY, resume, run_until, search_args

TERMS = {
    "mid-training": ("epoch:2", [*TINY, "--epochs", "2"]),
    "between ask and record": ("ask:2", TINY),
    "trial row written, not yet dispatched": ("trial.started:2", TINY),
    "inside the record transaction": ("record.rows:2", TINY),
    "just after the record commit": ("record.committed:1", TINY),
    "handling a duplicate": ("duplicate:1", ONE_ARCH),
}


@pytest.mark.parametrize("case", TERMS)
def test_sigterm_at_a_point_records_what_ran_and_resumes(case, tmp_path, capsys):
    point, extra = TERMS[case]
    args = search_args(tmp_path, *extra, trials=3)
    url = f"sqlite:///{tmp_path}/nas.db"
    done = run_until(point, args, tmp_path, sig=signal.SIGTERM)
    assert done.returncode == 143, done.stderr[-3000:]
    assert done.stderr.strip().splitlines()[-1] == (
        "nas: search 'f' stopped by SIGTERM; run the same command again to resume it"
    )
    assert "Traceback" not in done.stderr
    stopped = assert_consistent(url, "f")  # nothing running, Optuna agrees, right after the signal
    assert db.connect(url, read_only=True).get_search("f").status == "interrupted"
    before = completed(url, "f")
    resume(args, capsys)
    report = assert_consistent(url, "f", before=before, trials=3)
    print(f"{case}: after SIGTERM {stopped}; resumed {report}")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_drivers_on_one_name_the_second_is_refused_then_takes_over_a_dead_one(tmp_path, capsys):
    """The first driver stops itself (SIGSTOP) mid-training, holding the search; a second
    `nas search` on the name is refused in one line and writes nothing. Once the first is
    SIGKILLed, the same command takes the search over at once and finishes it."""
    args = search_args(tmp_path, *TINY, "--epochs", "2", trials=3)
    url = f"sqlite:///{tmp_path}/nas.db"
    path = tmp_path / "nas.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT), _faults.ENV: "epoch:2:SIGSTOP"}
    first = subprocess.Popen(
        [sys.executable, "-c", CLI, *args], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while _state(first.pid) != "T" and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.1)
        assert _state(first.pid) == "T", "the first driver never reached its stop point"
        before = completed(url, "f")
        wal = path.with_name("nas.db-wal")
        hashes = (_sha(path), _sha(wal))
        capsys.readouterr()
        rc = main(args)
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1, err
        assert f"is being run by process {first.pid} on" in err[0] and "--name" in err[0]
        assert (_sha(path), _sha(wal)) == hashes  # the refused driver wrote nothing
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=30)
    resume(args, capsys)  # a dead driver's claim on this machine is taken over at once
    report = assert_consistent(url, "f", before=before, trials=3)
    assert report["states"].get("interrupted") == 1, report


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "?"
