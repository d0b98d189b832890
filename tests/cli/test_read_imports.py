"""The read commands stay light: `leaderboard`, `searches` and `show` load neither optuna nor
Alembic (nor torch or Ray: tests/test_layout.py). Schema checks are for writers: a read-only
connect reads the revision from the version table with plain SQL. Each command runs in a fresh
process; `sys.modules` is looked at after it has run."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("optuna", "alembic", "torch", "ray")

_RUN = textwrap.dedent("""
    import contextlib, io, json, sys
    import nas.cli
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            rc = nas.cli.main(sys.argv[1:])
        except SystemExit as e:
            rc = e.code
    loaded = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(os.environ["HEAVY"])))
    print(json.dumps({"rc": rc, "out": out.getvalue(), "loaded": loaded}))
""").replace("import contextlib,", "import os, contextlib,")


@pytest.fixture(scope="module")
def finished_db(tmp_path_factory) -> str:
    """A finished search (null trainer: no torch needed to make it)."""
    from nas.search.config import SearchConfig
    from nas.search.driver import run_search
    from workers.datasets import load_dataset
    from workers.executor import NullExecutor

    url = f"sqlite:///{tmp_path_factory.mktemp('reads') / 'nas.db'}"
    config = SearchConfig(
        name="reads",
        db=url,
        dataset="synthetic",
        subset=200,
        trials=4,
        executor="local",
        sampler="random",
        pruner="none",
        train={"epochs": 1, "batch_size": 64},
        space_options={"widths": [[8], [16]], "depth": [1, 2]},
    )
    data = load_dataset("synthetic", subset=200, seed=0)
    run_search(config, executor=NullExecutor(slots=2), data=data)
    return url


@pytest.mark.parametrize(
    "argv, shows",
    [
        (["leaderboard", "--db", "{db}"], "reads"),
        (["searches", "--db", "{db}"], "reads"),
        (["show", "0", "--db", "{db}"], "architecture"),
    ],
    ids=["leaderboard", "searches", "show"],
)
def test_read_commands_load_neither_optuna_nor_alembic(argv, shows, finished_db):
    argv = [a.replace("{db}", finished_db) for a in argv]
    done = subprocess.run(
        [sys.executable, "-c", _RUN, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**_env(), "HEAVY": json.dumps(HEAVY)},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rc"] == 0, (result, done.stderr)
    assert shows in result["out"]
    assert result["loaded"] == [], f"nas {' '.join(argv[:2])} imported {', '.join(result['loaded'])}"


def test_a_read_only_connect_checks_the_revision_without_alembic(finished_db):
    code = (
        "import sys, db; s = db.connect(sys.argv[1], read_only=True); s.get_search('reads'); "
        "print(sorted(m for m in ('alembic', 'optuna') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, finished_db], cwd=ROOT, capture_output=True, text=True, timeout=60, env=_env()
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT)}
