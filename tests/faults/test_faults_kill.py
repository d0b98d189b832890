"""The search driver SIGKILLed at each of its fault points, then resumed to the end.

`nas search` runs as a real subprocess (the CLI's `main`, local executor, tiny synthetic data, the
tiny spaces of tests/faults/spaces.py) with ``NAS_FAULT_POINT=NAME:COUNT`` (nas/search/_faults.py):
it SIGKILLs itself the COUNT-th time it reaches point NAME, mid-transaction included. The same
command then resumes the search (in this process, through the CLI's `main`) and
`checks.assert_consistent` runs every after-check:
no completed trial lost, no architecture trained twice, Optuna and the ``nas_`` rows agreeing
trial by trial, nothing left running, the budget spent exactly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nas.cli import main
from nas.search import _faults
from tests.faults.checks import assert_consistent, completed
from tests.faults.spaces import CLI
from tests.helpers import tiny_search_options

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--space", "fault-tiny"]  # eight tiny networks
ONE_ARCH = ["--space", "fault-one"]  # one network: the first trial trains it, every later one repeats it


def search_args(tmp_path: Path, *extra: str, trials: int = 3) -> list[str]:
    return [
        "search",
        "--name",
        "f",
        "--db",
        f"sqlite:///{tmp_path}/nas.db",
        *tiny_search_options(trials),
        *extra,
    ]


def run_until(point: str, args: list[str], tmp_path: Path, sig: int = signal.SIGKILL) -> subprocess.CompletedProcess:
    """`nas ARGS` in a subprocess that sends itself `sig` at fault point `point` ("NAME:COUNT")."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), _faults.ENV: f"{point}:{signal.Signals(sig).name}"}
    done = subprocess.run(
        [sys.executable, "-c", CLI, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    if sig == signal.SIGKILL:  # it died there, and nowhere else
        assert done.returncode == -signal.SIGKILL, f"not killed at {point}: rc {done.returncode}\n{done.stderr[-3000:]}"
    return done


def resume(args: list[str], capsys) -> None:
    capsys.readouterr()
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 0, err[-3000:]
    assert "Traceback" not in err


# (point:count, extra options, trials): every point of nas/search/_faults.py at least once
KILLS = {
    "at search creation": ("search.opened:1", TINY, 2),
    "after ask": ("ask:2", TINY, 3),
    "trial row written, before dispatch": ("trial.started:2", TINY, 3),
    "mid-training, after an epoch is stored": ("epoch:3", [*TINY, "--epochs", "2"], 3),
    "record transaction begun": ("record.begin:2", TINY, 3),
    "record: nas_ rows written, before study.tell": ("record.rows:2", TINY, 3),
    "record: during the weight save": ("record.weights:1", TINY, 3),
    "record: told Optuna, before commit": ("record.told:2", TINY, 3),
    "record: after commit": ("record.committed:1", TINY, 3),
    "duplicate handling, before its record": ("duplicate:1", ONE_ARCH, 3),
    "duplicate: inside its record transaction": ("record.told:2", ONE_ARCH, 3),
    "pruned repeat handling, curve told to Optuna": (
        "pruned_again:1",
        [*ONE_ARCH, "--epochs", "2", "--trial-timeout", "0"],
        3,
    ),
    "at release": ("release:1", TINY, 2),
}


@pytest.mark.parametrize("case", KILLS)
def test_sigkill_at_a_fault_point_then_resume_loses_nothing(case, tmp_path, capsys):
    point, extra, trials = KILLS[case]
    args = search_args(tmp_path, *extra, trials=trials)
    url = f"sqlite:///{tmp_path}/nas.db"
    run_until(point, args, tmp_path)
    before = completed(url, "f")
    resume(args, capsys)
    report = assert_consistent(url, "f", before=before, trials=trials)
    print(f"{case}: {report}")


def test_killed_twice_the_second_time_while_recovering_from_the_first(tmp_path, capsys):
    """The recovery of a killed search is one transaction: killed inside it, nothing of it stays."""
    args = search_args(tmp_path, *TINY, trials=3)
    url = f"sqlite:///{tmp_path}/nas.db"
    run_until("trial.started:2", args, tmp_path)  # leaves a 'running' row and a RUNNING Optuna trial
    before = completed(url, "f")
    assert len(before) == 1
    run_until("recover:1", args, tmp_path)
    resume(args, capsys)
    report = assert_consistent(url, "f", before=before, trials=3)
    assert report["states"].get("interrupted") == 1, report  # recovered once, not twice
