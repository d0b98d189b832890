"""bench/gpu_suite.sh in its CI-sized form (`--smoke`) on the CPU: every part runs, one JSON file.

The suite is meant for a GPU (bench/gpu_suite.py); here it runs with the synthetic dataset, tiny
networks and budgets, and says which CUDA-only features it could not exercise. Checked: the JSON's
keys and that its values are sane (statuses, counts, accuracies in [0, 1], positive rates, ratios
computed from the figures beside them). No timing is asserted.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: the smoke run starts Ray and three subprocesses: about 50 s on a loaded 2-core CPU, once for the module
slow = pytest.mark.slow


def _positive(x) -> bool:
    return isinstance(x, int | float) and math.isfinite(x) and x > 0


def _accuracy(x) -> bool:
    return isinstance(x, int | float) and 0.0 <= x <= 1.0


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("gpu_suite") / "gpu_suite.json"
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    proc = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu_suite.sh"), "--smoke", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.exists(), f"no JSON written; exit {proc.returncode}\n{proc.stderr[-4000:]}"
    doc = json.loads(out.read_text())
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-4000:]}\n{json.dumps(doc['parts'])[:4000]}"
    return doc


@slow
def test_header_environment_and_commands(suite):
    assert suite["suite"] == "bench/gpu_suite.py"
    assert suite["schema"] == 1
    assert suite["mode"] == "smoke"
    assert suite["complete"] is True
    assert len(suite["date"]) == 10 and suite["started"] and suite["finished"]
    assert "--smoke" in suite["command"]
    env = suite["environment"]
    for key in ("device", "device_type", "torch", "python", "cpu_count", "git_commit"):
        assert key in env, key
    assert env["device_type"] == "cpu" and env["device"].startswith("cpu")
    import torch

    assert env["torch"] == torch.__version__
    how = {(c["part"], c["how"]) for c in suite["commands"]}
    assert how >= {
        ("steps", "in-process"),
        ("packing", "in-process"),
        ("reference", "subprocess"),
        ("search", "subprocess"),
        ("final", "subprocess"),
    }
    cmds = " ".join(c["command"] for c in suite["commands"])
    for needle in ("nas search", "nas evaluate", "bench/reference_accuracy.py", "--time-budget", "--gpus-per-trial"):
        assert needle in cmds, needle


@slow
def test_every_part_ran_and_only_cuda_features_were_skipped(suite):
    assert list(suite["parts"]) == ["steps", "packing", "reference", "search", "final"]
    for name, part in suite["parts"].items():
        assert part["status"] == "ok", (name, part.get("error"), part.get("stderr_tail", "")[-2000:])
        assert part["part_seconds"] >= 0
    skipped = {s["part"]: s for s in suite["skipped"]}
    assert set(skipped) == {"steps", "packing"}  # graphs/bf16/channels_last and fractional GPUs: CUDA only
    assert all("CUDA" in s["why"] for s in skipped.values())


@slow
def test_steps_eager_and_graphed(suite):
    steps = suite["parts"]["steps"]
    assert list(steps["presets"]) == ["resnet18", "mobilenet_v2", "shufflenet_v2_x1_0"]
    assert steps["cuda_graphs_possible"] is False
    for name, p in steps["presets"].items():
        assert p["params"] > 100_000, name  # the real presets, not toy networks
        for mode in ("eager", "graphed"):
            m = p[mode]
            assert m["status"] == "complete", (name, mode, m["reason"])
            assert _positive(m["images_per_second"]), (name, mode)
            assert len(m["epoch_seconds"]) == steps["epochs"]
            assert m["cuda_graphs"] is False and m["bf16"] is False  # the CPU trains eager fp32
        want = round(p["graphed"]["images_per_second"] / p["eager"]["images_per_second"], 3)
        assert p["ratio_graphed_over_eager"] == pytest.approx(want, abs=1e-3)
        assert suite["ratios"]["graphed_over_eager"][name] == p["ratio_graphed_over_eager"]


@slow
def test_packing_levels(suite):
    packing = suite["parts"]["packing"]
    levels = packing["levels"]
    assert list(levels) == ["1", "2", "4"]
    trials = {lv["trials"] for lv in levels.values()}
    assert len(trials) == 1
    for k, lv in levels.items():
        assert lv["slots"] == int(k)
        assert lv["trained"] == lv["trials"] and lv["counts"].get("complete") == lv["trials"]
        assert lv["same_architectures_as_first_level"] is True
        assert _positive(lv["trials_per_minute"])
        assert lv["gpus_per_trial"] == 0.0 and lv["devices"] == ["cpu"]
    ratios = suite["ratios"]["packed_over_1"]
    assert set(ratios) == {"2_over_1", "4_over_1"}
    for k in ("2", "4"):
        want = levels[k]["trials_per_minute"] / levels["1"]["trials_per_minute"]
        assert ratios[f"{k}_over_1"] == pytest.approx(want, abs=1e-3)


@slow
def test_search_final_and_reference(suite):
    parts = suite["parts"]
    search, final, ref = parts["search"], parts["final"], parts["reference"]
    assert search["returncode"] == 0 and search["trained"] >= 1
    assert _positive(search["trials_per_minute"])
    # the final retrains the search's best by validation (on a tie, either of the tied)
    assert final["val_accuracy"] == pytest.approx(search["best"]["val_accuracy"])
    assert len(final["hash"]) == len(search["best"]["hash"])
    assert _accuracy(search["best"]["val_accuracy"])
    for part in (final, ref):
        assert part["returncode"] == 0
        assert _accuracy(part["test_accuracy"])
        assert _positive(part["train_seconds"]) and _positive(part["wall_seconds"])
        assert part["epochs"] == suite["plan"]["final_epochs"]
    cmp = suite["ratios"]["final_vs_reference"]
    assert cmp["test_accuracy_difference"] == pytest.approx(final["test_accuracy"] - ref["test_accuracy"], abs=1e-4)
    assert _positive(cmp["train_seconds_ratio"]) and _positive(cmp["wall_seconds_ratio"])


# ---- the pieces, without running the suite (fast) ------------------------------------------------
@pytest.fixture(scope="module")
def gpu_suite():
    sys.path.insert(0, str(ROOT))
    import bench.gpu_suite as module

    return module


def test_plans_and_options(gpu_suite):
    full = gpu_suite.make_plan(gpu_suite.parse_args(["--out", "x.json"]))
    assert full.device == "cuda" and full.dataset == "fashion-mnist"
    assert full.presets == ("resnet18", "mobilenet_v2", "shufflenet_v2_x1_0")
    assert full.pack_levels == (1, 2, 4) and full.search_budget == 300 and full.final_epochs == 30
    assert full.deadline is not None and full.deadline < 600  # the GPU machine's limit per command
    smoke = gpu_suite.make_plan(gpu_suite.parse_args(["--out", "x.json", "--smoke", "--deadline", "0"]))
    assert smoke.device == "cpu" and smoke.deadline is None
    assert smoke.pack_levels == full.pack_levels and smoke.presets == full.presets
    with pytest.raises(SystemExit):
        gpu_suite.parse_args(["--out", "x.json", "--parts", "steps,nope"])


def test_full_suite_refuses_without_cuda(gpu_suite, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "x.json"
    assert gpu_suite.main(["--out", str(out)]) == 2
    assert not out.exists()


def test_missing_dataset_is_reported_once(gpu_suite, tmp_path):
    plan = gpu_suite.dataclasses.replace(gpu_suite.SMOKE, dataset=f"npz:{tmp_path / 'absent.npz'}")
    args = gpu_suite.parse_args(["--out", "x.json", "--smoke"])
    problem = gpu_suite._dataset_problem(plan, args)
    assert problem and "absent.npz" in problem
    assert gpu_suite._dataset_problem(gpu_suite.SMOKE, args) is None


def test_deadline_skips_the_search_and_then_the_final(gpu_suite, tmp_path):
    plan = gpu_suite.dataclasses.replace(gpu_suite.SMOKE, deadline=20.0, search_min_budget=5.0)
    suite = gpu_suite.Suite(tmp_path / "s.json", plan, True, ["--smoke"])
    suite.doc["parts"]["reference"] = {"status": "ok", "wall_seconds": 10.0}
    args = gpu_suite.parse_args(["--out", "x.json", "--smoke"])
    search = suite.run_part("search", gpu_suite.part_search, args, tmp_path)
    final = suite.run_part("final", gpu_suite.part_final, args)
    assert search["status"] == "skipped" and search["why"] == "deadline"
    assert final["status"] == "skipped"
    assert [s["part"] for s in suite.doc["skipped"]] == ["search", "final"]
    written = json.loads((tmp_path / "s.json").read_text())
    assert written["complete"] is False and written["parts"]["final"]["status"] == "skipped"


def test_output_parsing_and_ratios(gpu_suite):
    assert gpu_suite._last_json('progress\n{"a": 1}\n') == {"a": 1}
    assert gpu_suite._last_json("no json") is None
    assert gpu_suite._last_json('[{"b": 2}]', whole=True) == [{"b": 2}]
    assert gpu_suite._ratio(3.0, 2.0) == 1.5 and gpu_suite._ratio(1.0, 0) is None and gpu_suite._ratio(None, 1) is None
    assert gpu_suite._per_minute(4, 120.0) == 2.0 and gpu_suite._per_minute(0, 10.0) is None
    assert gpu_suite._space_flags({"depth": [1, 1]}) == ["--space-option", "depth=[1,1]"]
