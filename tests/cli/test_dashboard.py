"""`nas dashboard`: optuna-dashboard started on a real search database, read through its HTTP API."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request

import pytest

from tests.helpers import ctrl_c_reaches_the_child, run_tiny_search

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAS = [sys.executable, "-m", "nas"]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


@pytest.fixture(scope="module")
def search_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dash")
    return run_tiny_search(tmp / "nas.db", "dash", objectives=("val_accuracy", "params"))


def test_dashboard_serves_the_study_metric_names_and_trial_attributes(search_db):
    pytest.importorskip("optuna_dashboard")
    proc = subprocess.Popen(
        [*NAS, "dashboard", "--db", search_db, "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_reaches_the_child,
    )
    killer = threading.Timer(420, proc.kill)  # never hang the suite (a loaded machine: minutes)
    killer.start()
    try:
        line = proc.stderr.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/dashboard", line)
        assert m, f"no address announced: {line!r}"
        base = f"http://127.0.0.1:{m.group(1)}"
        (study,) = _get(f"{base}/api/studies")["study_summaries"]
        assert study["study_name"] == "nas:dash" and study["directions"] == ["maximize", "minimize"]
        detail = _get(f"{base}/api/studies/{study['study_id']}")
        assert detail["objective_names"] == ["val_accuracy", "params"]
        assert len(detail["trials"]) == 2
        keys = {a["key"] for a in detail["union_user_attrs"]}
        assert {"arch_hash", "params", "flops", "arch", "epochs", "epochs_asked", "fidelity", "train_seconds"} <= keys
        trained = [t for t in detail["trials"] if any(a["key"] == "fidelity" for a in t["user_attrs"])]
        attrs = {a["key"]: a["value"] for a in trained[0]["user_attrs"]}
        assert attrs["fidelity"] == "1.0" and attrs["epochs"] == "1" and json.loads(attrs["arch"])["nodes"]
        with urllib.request.urlopen(f"{base}/dashboard", timeout=30) as r:  # the page itself
            assert r.status == 200 and b"<html" in r.read().lower()
        proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0 and "stopped" in err and "Traceback" not in err
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_dashboard_without_its_extra_names_the_install_command(search_db):
    # Python's own way to mark a module as absent: None in sys.modules makes `import` fail
    code = (
        "import sys; sys.modules['optuna_dashboard'] = None; from nas.cli.main import main; "
        f"sys.exit(main(['dashboard', '--db', {search_db!r}]))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        "nas: error: nas dashboard needs optuna-dashboard, which is not installed: pip install 'nas[dashboard]'"
    ]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--host", "0.0.0.0"], "listens on this machine only"),
        (["--port", "70000"], "--port 70000: use 1-65535"),
        (["--db", "sqlite:///nowhere/none.db"], "no database file"),
    ],
)
def test_dashboard_refuses_in_one_line(argv, message, search_db, tmp_path):
    pytest.importorskip("optuna_dashboard")
    db_arg = [] if "--db" in argv else ["--db", search_db]
    r = subprocess.run([*NAS, "dashboard", *db_arg, *argv], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
