"""Executors run `TrialJob`s and stream per-epoch results back to the driver.

The driver (nas.search.driver.Search) owns every decision and every database write; an executor
only runs trials. `LocalExecutor` trains in the driver's process, one trial at a time (tests,
debugging); `workers.ray_executor.RayExecutor` runs trials on Ray actors.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import TYPE_CHECKING

from workers.records import EpochMetrics, TrialJob, TrialOutcome

if TYPE_CHECKING:
    from workers.datasets import Dataset

#: on_epoch(trial_id, metrics) -> True to stop the trial (pruned); on_done(trial_id, outcome)
OnEpoch = Callable[[int, EpochMetrics], bool]
OnDone = Callable[[int, TrialOutcome], None]


class Executor(abc.ABC):
    """Runs trials; `slots` of them at once."""

    slots: int = 1

    @abc.abstractmethod
    def submit(self, job: TrialJob) -> None:
        """Start `job` (the driver never submits more than `slots` at once)."""

    @abc.abstractmethod
    def wait(self, on_epoch: OnEpoch, on_done: OnDone, timeout: float = 0.5) -> None:
        """Deliver what happened since the last call; block at most `timeout` if nothing did."""

    @abc.abstractmethod
    def in_flight(self) -> list[int]:
        """Trial ids submitted and not yet delivered to on_done."""

    def close(self) -> None:  # noqa: B027 - an optional hook, no-op by default
        """Stop everything still running and release resources."""


class LocalExecutor(Executor):
    """Trains in this process, synchronously: `wait` runs the next submitted trial to the end."""

    def __init__(self, data: Dataset, device: str = "auto") -> None:
        from workers._resident import resident
        from workers.trainer import resolve_device

        self.data = resident(data, resolve_device(device))  # train and val, uint8 as loaded; no test split
        self.slots = 1
        self._queue: list[TrialJob] = []

    def submit(self, job: TrialJob) -> None:
        self._queue.append(job)

    def wait(self, on_epoch: OnEpoch, on_done: OnDone, timeout: float = 0.5) -> None:
        if not self._queue:
            return
        job = self._queue[0]
        from workers.runner import run_trial  # torch: only where trials run

        result = run_trial(job, self.data, lambda m: on_epoch(job.trial_id, m))
        self._queue.pop(0)
        on_done(job.trial_id, result)

    def in_flight(self) -> list[int]:
        return [j.trial_id for j in self._queue]

    def close(self) -> None:  # noqa: B027 - an optional hook, no-op by default
        self._queue.clear()


class NullExecutor(Executor):
    """Runs no training: each trial "trains" instantly to a score drawn from its architecture
    (`workers.null_trainer.run_null_trial`).

    It measures what the search itself costs (sampling, dedupe, database writes, Optuna) in the
    load tests and `bench/`; it says nothing about networks. `slots` trials are in flight at once,
    as with Ray actors, and each reports all of its epochs before it completes.
    """

    def __init__(self, slots: int = 8) -> None:
        self.slots = slots
        self._queue: list[TrialJob] = []

    def submit(self, job: TrialJob) -> None:
        self._queue.append(job)

    def wait(self, on_epoch: OnEpoch, on_done: OnDone, timeout: float = 0.5) -> None:
        from workers.null_trainer import run_null_trial

        jobs, self._queue = self._queue, []
        for job in jobs:
            on_done(job.trial_id, run_null_trial(job, None, lambda m, job=job: on_epoch(job.trial_id, m)))

    def in_flight(self) -> list[int]:
        return [j.trial_id for j in self._queue]
