"""CI-sized runs of bench/proxies.py and bench/efficiency.py: every code path, sane JSON."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bench(script: str, *args: str) -> dict:
    r = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", script), *args], capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_proxies_bench_reports_spearman_per_proxy():
    out = bench("proxies.py", "--archs", "3", "--subset", "200", "--dataset", "synthetic", "--batch-size", "64")
    assert out["archs"] == 3 and set(out["spearman"]) == {"naswot", "synflow", "params"}
    for v in out["spearman"].values():
        assert math.isnan(v) or -1 <= v <= 1
    assert all(v >= 0 for v in out["proxy_seconds_mean"].values())


def test_spearman_against_a_hand_computed_case():
    sys.path.insert(0, ROOT)
    from bench.proxies import spearman

    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties share their mean rank: ranks (0, 1.5, 1.5, 3) and (0, 2, 1, 3), Pearson 4.5 / sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / (4.5 * 5) ** 0.5)


@pytest.mark.slow
def test_efficiency_bench_runs_each_strategy(tmp_path):
    plot = tmp_path / "eff.png"
    out = bench(
        "efficiency.py",
        *("--strategies", "random,evolution,tpe+hyperband,tpe+prescreen2", "--seeds", "1", "--trials", "2"),
        *("--subset", "200", "--dataset", "synthetic", "--plot", str(plot)),
    )
    assert set(out["summary"]) == {"random", "evolution", "tpe+hyperband", "tpe+prescreen2"}
    assert all(0 <= v["best_mean"] <= 1 for v in out["summary"].values())
    assert plot.stat().st_size > 10_000
