"""Faults inside one trial: it raises, its loss goes NaN, it runs out of GPU memory, its worker
process is killed. The trial is recorded 'failed' with its reason, the search goes on to its
budget, and every after-check of `checks.assert_consistent` holds.

The raising and out-of-memory trainers are injected by replacing `workers.trainer.train` for
one call (no GPU is needed to raise torch's own `OutOfMemoryError`); the NaN loss is real (a
learning rate of 1e30); the worker is a real Ray actor process, SIGKILLed mid-training.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import optuna
import pytest

import db
from nas.search.config import SearchConfig
from nas.search.driver import run_search
from tests.faults import spaces  # noqa: F401 - registers the tiny spaces
from tests.faults.checks import assert_consistent


def config(tmp_path, **kw) -> SearchConfig:
    base = dict(
        name="f",
        db=f"sqlite:///{tmp_path}/nas.db",
        dataset="synthetic",
        subset=300,
        trials=4,
        executor="local",
        sampler="random",
        pruner="none",
        train={"epochs": 1, "batch_size": 64},
        space="fault-tiny",
    )
    return SearchConfig(**{**base, **kw})


def _failing_second_training(monkeypatch, error: BaseException) -> None:
    import workers.trainer

    real, calls = workers.trainer.train, []

    def train(model, data, cfg, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise error
        return real(model, data, cfg, **kw)

    monkeypatch.setattr(workers.trainer, "train", train)


@pytest.mark.parametrize(
    "error, reason",
    [
        (RuntimeError("boom in the training loop"), "RuntimeError: boom in the training loop"),
        (None, "out of memory: CUDA out of memory. Tried to allocate 8.00 GiB"),
    ],
    ids=["raises", "out of memory"],
)
def test_a_trial_that_raises_is_recorded_failed_and_the_search_goes_on(error, reason, tmp_path, monkeypatch):
    if error is None:
        import torch

        error = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")
    _failing_second_training(monkeypatch, error)
    cfg = config(tmp_path)
    summary = run_search(cfg)
    assert summary.status == "finished"
    report = assert_consistent(cfg.db, "f", trials=4)
    failed = db.connect(cfg.db, read_only=True).trials("f", states="failed")
    assert len(failed) == 1 and failed[0].error.startswith(reason), failed
    assert report["states"]["failed"] == 1 and report["states"].get("complete", 0) >= 2, report


def test_a_nan_loss_is_recorded_failed_with_its_reason(tmp_path):
    cfg = config(tmp_path, trials=2, train={"epochs": 1, "batch_size": 64, "lr": 1e30})
    run_search(cfg)
    report = assert_consistent(cfg.db, "f", trials=2)
    assert report["states"] == {"failed": 2}, report
    assert all("non-finite loss" in t.error for t in db.connect(cfg.db, read_only=True).trials("f"))


@pytest.mark.slow
def test_a_killed_worker_costs_only_its_trial(tmp_path):
    import ray

    from workers.datasets import load_dataset
    from workers.ray_executor import RayExecutor, init_ray

    init_ray(None)
    cfg = config(tmp_path, executor="ray", concurrency=1, train={"epochs": 6, "batch_size": 32})
    data = load_dataset("synthetic", subset=300, seed=0)
    executor = RayExecutor(data, slots=1)
    killed: list[int] = []

    def killer() -> None:  # SIGKILL the worker process once its first trial has stored an epoch
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for trial_id, pid in executor.running_pids().items():
                if db.connect(cfg.db, read_only=True).epochs(trial_id):
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
        ray.shutdown()
    thread.join(timeout=5)
    assert killed
    report = assert_consistent(cfg.db, "f", trials=4)
    crashed = db.connect(cfg.db, read_only=True).get_trial_by_id(killed[0])
    assert crashed.state == "failed" and "worker died" in crashed.error
    assert report["states"]["failed"] == 1, report
    study = optuna.load_study(study_name="nas:f", storage=cfg.db)
    assert study.trials[crashed.optuna_number].state == optuna.trial.TrialState.FAIL
