"""`nas space`: the choices, size and sampled capacity of a space; no torch loaded."""

from __future__ import annotations

import json
import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nas", "space", *args], capture_output=True, text=True, timeout=300)


def test_json_has_the_capacity_figures():
    r = run("--samples", "200", "--format", "json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["samples"] == 200 and info["space"] == "skipdag"
    q = info["params_quantiles"]
    assert q["min"] <= q["0.5"] <= q["0.9"] <= q["max"]
    assert 300_000 <= q["0.5"] <= 1_500_000  # the default space's median: the target
    assert info["log10_size"] > 20 and info["distinct_in_samples"] > 150
    assert abs(sum(info["op_fractions"].values()) - 1) < 1e-3
    assert 0 <= info["long_skip_fraction"] <= 1
    assert "width_s0" in info["choices"]


def test_table_and_cell_mode_and_no_torch():
    code = (
        "import sys; from nas.cli.main import main; rc = main(['space', '--space', 'skipcell', '--samples', '20']);"
        "assert 'torch' not in sys.modules, 'nas space loaded torch'; sys.exit(rc)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "space skipcell" in r.stdout and "params" in r.stdout and "op kinds" in r.stdout


def test_bad_samples_is_a_usage_error():
    r = run("--samples", "0")
    assert r.returncode == 2 and "--samples 0" in r.stderr and "Traceback" not in r.stderr
