"""The search engine, for real: Optuna, SQLite, real training on small synthetic data, Ray locally.

The search logic is driven with the in-process LocalExecutor where Ray adds nothing to what is
tested, and with Ray actors for the end-to-end run, in-flight dedupe, worker crashes and the
hard-kill resume.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import optuna
import pytest

import db
import search_spaces
from nas.ir import Arch
from nas.search.config import ConfigError, SearchConfig
from nas.search.driver import Search, run_search
from search_spaces.skipdag import SkipDAG
from tests.helpers import ctrl_c_reaches_the_child

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = {"widths": [[8], [16]], "depth": [1, 2]}
#: Options under which skipdag holds exactly one network (every other choice pinned to one value).
ONE_ARCH = {
    "widths": [[8]],
    "depth": [1, 1],
    "ops": ["conv3x3"],
    "max_skips": 0,
    "blocks": [],
    "stems": ["conv3x3"],
    "stem_widths": [8],
    "acts": ["post"],
    "scales": [1.0],
    "zero_init": [False],
    "tie": [False],
}


def config(tmp_path, name="s", **kw) -> SearchConfig:
    base = dict(
        name=name,
        db=f"sqlite:///{tmp_path}/nas.db",
        dataset="synthetic",
        subset=600,
        trials=4,
        executor="local",
        sampler="random",
        pruner="none",
        train={"epochs": 2, "batch_size": 64},
        space_options=TINY,
    )
    base.update(kw)
    return SearchConfig(**base)


def states(store, name):
    return sorted(t.state for t in store.trials(name))


@pytest.fixture(scope="module")
def ray_local():
    import ray

    from workers.ray_executor import init_ray

    init_ray(None)
    yield
    ray.shutdown()


# ---- with Ray --------------------------------------------------------------------------------
def test_end_to_end_search_on_ray_records_trials_epochs_and_architectures(tmp_path, ray_local):
    cfg = config(
        tmp_path,
        trials=6,
        executor="ray",
        concurrency=2,
        pruner="asha",
        train={"epochs": 3, "batch_size": 64},
        save_weights="all",  # every completed trial's weights, checked below (top:K: tests/search/test_keep_weights.py)
    )
    summary = run_search(cfg)
    store = db.connect(cfg.db)
    trials = store.trials("s")
    assert len(trials) == 6 and summary.status == "finished"
    assert {t.state for t in trials} <= {"complete", "pruned", "duplicate"}
    assert sum(t.state == "complete" for t in trials) >= 1
    for t in trials:
        arch = store.get_architecture(t.arch_hash)
        assert Arch.from_json(arch.canonical_json).hash() == t.arch_hash
        if t.state in ("complete", "pruned"):
            epochs = store.epochs(t.id)
            assert [e.epoch for e in epochs] == list(range(1, t.epochs_run + 1))
            assert all(0 <= e.val_accuracy <= 1 for e in epochs)
            assert t.worker and t.device == "cpu"
        if t.state == "complete":
            assert t.epochs_run == 3
            assert store.get_artifact(t.id, "weights")
    # two long-lived workers ran all six trials: each loaded the dataset once and kept it
    assert len({t.worker for t in trials if t.worker}) <= 2
    study = optuna.load_study(study_name="nas:s", storage=store.url)
    assert len(study.trials) == 6
    assert {t.state for t in study.trials} <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    assert summary.best["val_accuracy"] == max(t.val_accuracy for t in trials if t.state == "complete")


def test_same_architecture_in_flight_twice_is_trained_once_on_ray(tmp_path, ray_local):
    cfg = config(tmp_path, trials=3, executor="ray", concurrency=2, space_options=ONE_ARCH)
    run_search(cfg)
    store = db.connect(cfg.db)
    assert states(store, "s") == ["complete", "duplicate", "duplicate"]
    (done,) = [t for t in store.trials("s") if t.state == "complete"]
    assert all(t.duplicate_of == done.id for t in store.trials("s") if t.state == "duplicate")


def test_a_worker_crash_costs_only_the_trial_in_flight(tmp_path, ray_local):
    from workers.datasets import load_dataset
    from workers.ray_executor import RayExecutor

    cfg = config(tmp_path, trials=4, executor="ray", concurrency=1, train={"epochs": 6, "batch_size": 32})
    data = load_dataset("synthetic", subset=600, seed=0)
    executor = RayExecutor(data, slots=1)
    killed = []

    def killer():  # SIGKILL the worker process while it trains the first trial
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for trial_id, pid in executor.running_pids().items():
                if db.connect(cfg.db).epochs(trial_id):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(trial_id)
                    return
            time.sleep(0.2)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        run_search(cfg, executor=executor, data=data)
    finally:
        executor.close()
    thread.join(timeout=5)
    store = db.connect(cfg.db)
    assert killed
    crashed = store.get_trial_by_id(killed[0])
    assert crashed.state == "failed" and "worker died" in crashed.error
    assert len(store.trials("s")) == 4
    assert sum(t.state == "complete" for t in store.trials("s")) >= 2


# ---- the plain class, without Ray ------------------------------------------------------------
def test_a_repeated_architecture_is_trained_once(tmp_path):
    cfg = config(tmp_path, trials=4, space_options=ONE_ARCH)
    run_search(cfg)
    store = db.connect(cfg.db)
    assert states(store, "s") == ["complete", "duplicate", "duplicate", "duplicate"]
    trained = [t for t in store.trials("s") if store.epochs(t.id)]
    assert len(trained) == 1
    study = optuna.load_study(study_name="nas:s", storage=store.url)
    # Optuna observed the one training run once; the repeats are FAIL (ignored by samplers) and
    # name the trial whose result they reuse, so a single run is never over-weighted
    first, *repeats = study.trials
    assert first.state == optuna.trial.TrialState.COMPLETE and first.value is not None
    assert [t.state for t in repeats] == [optuna.trial.TrialState.FAIL] * 3
    assert {t.user_attrs["duplicate_of_trial_id"] for t in repeats} == {store.trials("s")[0].id}
    # a second search with the same training protocol reuses it too
    run_search(config(tmp_path, name="again", trials=1, space_options=ONE_ARCH))
    assert states(store, "again") == ["duplicate"]


class _Colliding(SkipDAG):
    """Proposes the pinned WL collision: network A, then B (same hash, other graph), then A."""

    name = "collision-test"

    def sample(self, trial):
        from tests.ir.test_arch import WL_COLLISION

        trial.suggest_int("i", 0, 0)
        return WL_COLLISION[trial.number % 2]


def test_a_hash_collision_is_confirmed_by_isomorphism_and_both_networks_train(tmp_path):
    search_spaces.register(_Colliding)
    try:
        cfg = config(tmp_path, trials=3, space="collision-test", space_options={"widths": [[8]]})
        run_search(cfg)
    finally:
        search_spaces.unregister("collision-test")
    store = db.connect(cfg.db)
    first, second, third = (store.get_trial("s", n) for n in range(3))
    assert (first.state, second.state, third.state) == ("complete", "complete", "duplicate")
    assert first.arch_hash != second.arch_hash  # B got its own key, not A's result
    assert third.duplicate_of == first.id
    a = Arch.from_json(store.get_architecture(first.arch_hash).canonical_json)
    b = Arch.from_json(store.get_architecture(second.arch_hash).canonical_json)
    assert a.hash() == b.hash() and not a.isomorphic(b)


def test_an_out_of_memory_trial_is_recorded_failed_and_the_search_goes_on(tmp_path, monkeypatch):
    # fault injection: the trainer of the second trial raises torch's own OutOfMemoryError
    import torch

    import workers.trainer

    real, calls = workers.trainer.train, []

    def train(model, data, config, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")
        return real(model, data, config, **kw)

    monkeypatch.setattr(workers.trainer, "train", train)
    cfg = config(tmp_path, trials=4, space_options={**TINY, "ops": ["conv3x3", "sepconv3x3"]})
    run_search(cfg)
    store = db.connect(cfg.db)
    failed = [t for t in store.trials("s") if t.state == "failed"]
    assert len(failed) == 1 and failed[0].error.startswith("out of memory: CUDA out of memory")
    assert sum(t.state == "complete" for t in store.trials("s")) >= 2
    study = optuna.load_study(study_name="nas:s", storage=cfg.db)
    assert study.trials[failed[0].optuna_number].state == optuna.trial.TrialState.FAIL


def test_a_nan_loss_is_recorded_failed_with_the_reason(tmp_path):
    cfg = config(tmp_path, trials=2, train={"epochs": 2, "batch_size": 64, "lr": 1e30})
    run_search(cfg)
    store = db.connect(cfg.db)
    assert states(store, "s") == ["failed", "failed"]
    assert all("non-finite loss" in t.error for t in store.trials("s"))


def test_constraint_violations_are_infeasible_and_untrained(tmp_path):
    cfg = config(tmp_path, trials=6, max_params=1500, space_options={"widths": [[8, 32], [16, 64]], "depth": [1, 2]})
    run_search(cfg)
    store = db.connect(cfg.db)
    infeasible = [t for t in store.trials("s") if t.state == "infeasible"]
    assert infeasible
    for t in infeasible:
        assert "params" in t.error and t.params > 1500
        assert store.epochs(t.id) == [] and t.worker is None
    for t in store.trials("s"):
        if t.state == "complete":
            assert t.params <= 1500


def test_pruning_stops_a_poor_trial_before_its_last_epoch(tmp_path):
    cfg = config(
        tmp_path,
        trials=8,
        pruner="median",
        train={"epochs": 4, "batch_size": 64},
        space_options={"widths": [[8, 16], [16, 32]], "depth": [1, 2]},
    )
    run_search(cfg)
    store = db.connect(cfg.db)
    pruned = [t for t in store.trials("s") if t.state == "pruned"]
    assert pruned and any(t.epochs_run < 4 for t in pruned)
    for t in pruned:
        assert len(store.epochs(t.id)) == t.epochs_run and "pruned" in t.error


def test_time_budget_stops_starting_trials(tmp_path):
    cfg = config(tmp_path, trials=None, time_budget=1.0)
    run_search(cfg)
    store = db.connect(cfg.db)
    assert 1 <= len(store.trials("s")) < 50


def test_a_per_trial_time_cap_records_trials_at_the_fidelity_they_reached(tmp_path):
    cfg = config(tmp_path, trials=2, train={"epochs": 50, "batch_size": 64, "max_seconds": 0.0})
    run_search(cfg)
    store = db.connect(cfg.db)
    # a capped run is not a full result: pruned, never ranked with full runs
    assert states(store, "s") == ["pruned", "pruned"]
    assert store.leaderboard("s") == []
    for t in store.trials("s"):
        assert t.epochs_run == 1  # stopped after the epoch that crossed it
        assert "capped by --trial-timeout after 1 of 50 epochs" in t.error
    study = optuna.load_study(study_name="nas:s", storage=store.url)
    for t in study.trials:  # Optuna was told the learning curve it reached, then PRUNED
        assert t.state == optuna.trial.TrialState.PRUNED
        assert list(t.intermediate_values) == [1]


def test_resuming_with_a_different_definition_is_refused(tmp_path):
    run_search(config(tmp_path, trials=1))
    with pytest.raises(ConfigError, match="already exists with dataset="):
        Search(config(tmp_path, trials=2, dataset="mnist")).run()
    # the budget may change: resuming to 2 trials runs exactly one more
    run_search(config(tmp_path, trials=2))
    assert len(db.connect(config(tmp_path).db).trials("s")) == 2


# ---- the driver in a subprocess: SIGKILL and Ctrl-C ------------------------------------------
def _cli(tmp_path, *extra):
    return [
        sys.executable,
        "-m",
        "nas.cli",
        "search",
        "--name",
        "k",
        "--db",
        f"sqlite:///{tmp_path}/nas.db",
        "--dataset",
        "synthetic",
        "--subset",
        "600",
        "--sampler",
        "random",
        "--pruner",
        "none",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--space-option",
        "widths=[[8],[16]]",
        "--space-option",
        "depth=[1,2]",
        "--no-progress",
        *extra,
    ]


def _wait_for(pred, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.3)
    return False


def _env():
    return {**os.environ, "PYTHONPATH": ROOT}


def _count(url, name, state):
    try:
        return sum(t.state == state for t in db.connect(url).trials(name))
    except Exception:  # noqa: BLE001 - the db may not exist yet
        return 0


def test_resume_after_sigkill_finishes_the_budget_without_retraining(tmp_path):
    url = f"sqlite:///{tmp_path}/nas.db"
    args = _cli(tmp_path, "--trials", "8", "--executor", "ray", "--concurrency", "2")
    proc = subprocess.Popen(args, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert _wait_for(lambda: _count(url, "k", "complete") >= 3 or proc.poll() is not None)
        assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    store = db.connect(url)
    before = {t.id: t for t in store.trials("k") if t.state == "complete"}
    epochs_before = {i: len(store.epochs(i)) for i in before}
    assert len(before) >= 3
    done = subprocess.run(args, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    trials = store.trials("k")
    finished = [t for t in trials if t.state in ("complete", "pruned", "failed", "duplicate", "infeasible")]
    assert len(finished) == 8
    for i, t in before.items():  # completed work was kept as it was ...
        again = store.get_trial_by_id(i)
        assert again.state == "complete" and again.finished_at == t.finished_at
        assert len(store.epochs(i)) == epochs_before[i]
    hashes_before = {t.arch_hash for t in before.values()}
    retrained = [t for t in trials if t.id not in before and t.state == "complete" and t.arch_hash in hashes_before]
    assert retrained == []  # ... and never trained again
    assert all(t.state != "running" for t in trials)
    assert db.connect(url).get_search("k").status == "finished"


def test_ctrl_c_records_in_flight_trials_as_interrupted_and_resumes(tmp_path):
    url = f"sqlite:///{tmp_path}/nas.db"
    args = _cli(tmp_path, "--trials", "3", "--executor", "local", "--epochs", "30")
    proc = subprocess.Popen(
        args,
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_reaches_the_child,
    )
    try:
        assert _wait_for(lambda: _count(url, "k", "running") >= 1 or proc.poll() is not None)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=240)  # generous: a loaded 2-core machine is slow to wind down
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "interrupted" in err and "resume" in err and "Traceback" not in err
    store = db.connect(url)
    assert _count(url, "k", "interrupted") == 1
    assert store.get_search("k").status == "interrupted"
    short = [a if a != "30" else "1" for a in args]  # resume with the same definition ...
    resumed = subprocess.run(short, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 2 and "already exists with train=" in resumed.stderr  # ... it must match
    resumed = subprocess.run(
        args + ["--time-budget", "5"], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert store.get_search("k").status == "finished"
