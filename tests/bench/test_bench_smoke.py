"""The overhead and sampler benchmarks run end to end in CI-sized form: the JSON they print has
every key, and the values are sane. No assertion on wall-clock time (docs/benchmarks.md holds the
figures, measured side by side)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str, timeout: int = 600) -> list[dict]:
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_overhead_prints_one_sane_json_line():
    from bench.overhead import KEYS
    from workers._resident import data_nbytes, resident
    from workers.datasets import load_dataset

    (r,) = _run("bench/overhead.py", "--trials", "6", "--dataset", "synthetic", "--subset", "300", "--weights-kb", "8")
    assert set(KEYS) <= set(r)
    assert r["trials"] == 6 and sum(r["counts"].values()) == 6 and r["workers"] == 2
    for key in ("per_trial_s", "plain_optuna_per_trial_s", "plain_optuna_inmemory_per_trial_s", "first_trial_s"):
        assert math.isfinite(r[key]) and r[key] > 0, key
    assert r["ratio"] == pytest.approx(r["per_trial_s"] / r["plain_optuna_per_trial_s"], rel=0.01)
    assert r["first_trial_s"] > r["per_trial_s"]  # start-up is not a steady-state trial
    assert 0 < r["db_bytes_per_trial"] < 10_000_000 and r["db_schema_bytes"] > 0
    assert 1 <= r["weights_held"] <= 5  # --save-weights top:5
    # a worker holds train and val of the subset as uint8, nothing else (no test split, no float copy)
    data = load_dataset("synthetic", subset=300, seed=0)
    assert r["worker_data_bytes"] == data_nbytes(resident(data, "cpu"))
    assert r["worker_peak_rss_mb"] > r["worker_data_mb"] and r["import_baseline_mb"] > 0


def test_sampler_cost_prints_a_line_per_setting():
    rows = _run("bench/sampler_cost.py", "--trials", "12", "--rounds", "1", "--settings", "default,stock mv+group+liar")
    assert [r["setting"] for r in rows] == ["default", "stock mv+group+liar (the old default)"]
    for r in rows:
        assert r["trials"] == 12 and r["sample_ms"] > 0 and r["tell_ms"] >= 0 and 0 <= r["best_null_score"] < 1
    assert rows[0]["sampler"] == "OneAskerTPESampler" and rows[1]["sampler"] == "TPESampler"
    assert rows[0]["best_null_score"] == rows[1]["best_null_score"]  # the same proposals
