"""The null trainer: a trial that "trains" instantly to a score drawn from its architecture.

It measures what the search itself costs (sampling, dedupe, database writes, Optuna, and with
Ray the dispatch, the epoch reports and the verdicts) in the load tests and `bench/overhead.py`;
it says nothing about networks. `NullExecutor` runs it in the driver's process; a `RayExecutor`
made with ``runner=NULL_RUNNER`` runs it on real Ray workers that hold the dataset as a search's
workers do. Torch-free.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from workers.records import EpochMetrics, TrialJob, TrialOutcome

#: `RayExecutor(..., runner=NULL_RUNNER)`: workers run `run_null_trial` instead of training.
NULL_RUNNER = "workers.null_trainer:run_null_trial"


def null_score(arch_json: str) -> float:
    """The architecture's stand-in validation accuracy, in [0, 1): a hash, so the same network
    always scores the same."""
    digest = hashlib.sha256(arch_json.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def run_null_trial(
    job: TrialJob,
    data: Any = None,
    on_epoch: Callable[[EpochMetrics], bool] | None = None,
    *,
    weights_bytes: int = 0,
    epoch_seconds: float = 0.0,
) -> TrialOutcome:
    """Report every epoch of `job` (accuracy rising to the score) through `on_epoch`, which may
    stop it, and return the outcome; with `weights_bytes` and `job.save_weights`, stand-in
    weights of that size travel back as a trained trial's would. `epoch_seconds`: each epoch
    sleeps that long first (training time that costs no CPU, to measure what waiting costs)."""
    score = null_score(job.arch_json)
    epochs = job.train.epochs
    for epoch in range(1, epochs + 1):
        if epoch_seconds:
            time.sleep(epoch_seconds)
        acc = score * epoch / epochs
        metrics = EpochMetrics(epoch, 1.0 - acc, acc, 1.0 - acc, acc, seconds=0.0, lr=job.train.lr)
        if on_epoch is not None and on_epoch(metrics):
            return TrialOutcome("stopped", val_accuracy=acc, epochs_run=epoch)
    weights = bytes(weights_bytes) if weights_bytes and job.save_weights else None
    return TrialOutcome("complete", val_accuracy=score, epochs_run=epochs, weights=weights)
