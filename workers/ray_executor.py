"""Trials on Ray actors: one long-lived actor per slot keeps the dataset resident on its device.

Why actors rather than Ray Tune trainables: an actor loads the dataset once and keeps it on
its GPU across trials (Tune starts a trainable per trial), and the persistent Optuna study
stays with the driver, the only process that writes to the database. Several small trials
share one GPU through fractional `num_gpus`.

Per-epoch metrics stream back without fixed polls: the actor's `run` executes in its default
thread; each busy actor has one long poll outstanding (`listen`, in its own "events" concurrency
group), which returns the moment an epoch is reported, and the driver waits on those and on the
runs together (`ray.wait`), so it wakes for news, not on a timer. `poll` (an immediate read) and
`decide` run in the "control" group. After each epoch the trial waits (briefly) for the driver's
verdict, so pruning acts on the epoch just reported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import ray

from workers.executor import Executor, OnDone, OnEpoch
from workers.records import EpochMetrics, TrialJob, TrialOutcome

if TYPE_CHECKING:  # torch: loaded by the workers, and by the driver only where it needs it
    from workers.datasets import Dataset

VERDICT_TIMEOUT_S = 60.0  # a trial carries on if the driver does not answer in time
LISTEN_S = 10.0  # a worker answers `listen` as soon as it has epochs to report, or after this long
CONNECT_TIMEOUT_S = 5.0  # to reach a Ray cluster's address before giving up
CALL_TIMEOUT_S = 30.0  # for every control call to an actor (poll, pid)
DRIVER_CHECK_S = 0.5  # how often a worker checks that its driver process is still alive


class RayUnavailable(RuntimeError):
    """Ray cannot be started or reached; the message says why and what to do, on one line."""


def _watch_driver(host: str, pid: int) -> None:
    """End this worker process soon after the driver dies (on the driver's machine), even when
    the driver was SIGKILLed and could not stop its actors."""
    if host != socket.gethostname():
        return  # on another machine Ray's own owner-death handling applies

    def watch() -> None:
        while True:
            time.sleep(DRIVER_CHECK_S)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass  # alive, another user's

    threading.Thread(target=watch, name="nas-driver-watch", daemon=True).start()


@ray.remote(concurrency_groups={"control": 1, "events": 1})
class TrialWorker:
    """Holds the dataset on its device and runs trials one after another."""

    def __init__(
        self,
        data: Dataset,
        device: str = "auto",
        driver: tuple[str, int] | None = None,
        runner: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        import importlib

        import torch

        from workers._resident import resident
        from workers.runner import run_trial
        from workers.trainer import resolve_device

        if driver is not None:
            _watch_driver(*driver)
        torch.set_num_threads(max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))))
        self.device = resolve_device(device)
        self.data = resident(data, self.device)  # train and val as uint8, normalised per batch; no test split
        self._lock = threading.Lock()
        self._events: list[tuple[int, EpochMetrics]] = []
        self._verdicts: dict[tuple[int, int], bool] = {}
        self._cond = threading.Condition(self._lock)
        self._run_trial, self._runner_options = run_trial, {}
        if runner is not None:  # "module:function" and its keywords, e.g. the null trainer (bench/overhead.py)
            module, _, name = runner[0].partition(":")
            self._run_trial, self._runner_options = getattr(importlib.import_module(module), name), dict(runner[1])

    def run(self, job: TrialJob) -> TrialOutcome:
        def on_epoch(metrics: EpochMetrics) -> bool:
            key = (job.trial_id, metrics.epoch)
            with self._cond:
                self._events.append((job.trial_id, metrics))
                self._cond.notify_all()  # wakes `listen`
                self._cond.wait_for(lambda: key in self._verdicts, timeout=VERDICT_TIMEOUT_S)
                return self._verdicts.pop(key, False)

        return self._run_trial(job, self.data, on_epoch, **self._runner_options)

    @ray.method(concurrency_group="control")
    def pid(self) -> int:
        """The worker's process id (diagnostics, and the fault-injection tests)."""
        import os

        return os.getpid()

    @ray.method(concurrency_group="control")
    def data_bytes(self) -> int:
        """Bytes of the dataset tensors this worker holds (tests and bench/overhead.py)."""
        from workers._resident import data_nbytes

        return data_nbytes(self.data)

    @ray.method(concurrency_group="control")
    def poll(self) -> list[tuple[int, EpochMetrics]]:
        """The epochs reported and not yet taken, at once (possibly none)."""
        with self._lock:
            events, self._events = self._events, []
        return events

    @ray.method(concurrency_group="events")
    def listen(self, wait_s: float = LISTEN_S) -> list[tuple[int, EpochMetrics]]:
        """The epochs reported and not yet taken, as soon as there are any (at most `wait_s` later)."""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._events), timeout=wait_s)
            events, self._events = self._events, []
        return events

    @ray.method(concurrency_group="control")
    def decide(self, trial_id: int, epoch: int, stop: bool) -> None:
        with self._cond:
            self._verdicts[(trial_id, epoch)] = stop
            self._cond.notify_all()


def check_address(address: str) -> None:
    """Fail in seconds, with a clear message, for an address no Ray cluster answers at.

    Raises:
        RayUnavailable: a `ray://` address without Ray Client installed, a malformed address,
            nothing listening there, or a cluster whose token authentication would refuse this
            process (`workers._ray_auth.check_token_auth`).
    """
    if address in ("auto", "local"):
        return
    if address.startswith("ray://"):
        try:
            import grpc  # noqa: F401 - Ray Client's transport
        except ImportError:
            raise RayUnavailable(
                f"--address {address}: a ray:// address needs Ray Client: pip install 'ray[client]' "
                "(or give the cluster's GCS address host:6379 when this machine is part of it)"
            ) from None
        hostport = address[len("ray://") :]
    else:
        hostport = address
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(f"--address {address!r} is not host:port (e.g. 127.0.0.1:6379 or ray://host:10001)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise RayUnavailable(
            f"--address {address}: no Ray cluster answers there ({e.strerror or e}); start one with "
            "`ray start --head` or leave --address out to run on this machine"
        ) from None
    if not address.startswith("ray://"):  # a GCS address: would the cluster let this process in (token auth)?
        from workers._ray_auth import check_token_auth

        check_token_auth(address)


def init_ray(address: str | None, num_cpus: int | None = None) -> None:
    """Connect to `address`, or start a private Ray on this machine (address="local": never join
    a cluster someone else started here), quietly and without a dashboard."""
    if ray.is_initialized():
        return
    level = "INFO" if os.environ.get("NAS_VERBOSITY", "0") == "1" else "WARNING"  # `nas -v` (nas/cli/main.py)
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": level, "log_to_driver": True}
    if address:
        check_address(address)
        ray.init(address=address, **kwargs)
    else:
        with _quiet_default_token_auth():
            ray.init(address="local", num_cpus=num_cpus, **kwargs)


#: Ray's logger for its token-authentication set-up, and the start of the warning it gives on
#: every new local cluster when RAY_AUTH_MODE is unset (ray/_private/authentication/).
_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"
_AUTH_DEFAULT_WARNING = "Token authentication is enabled for this Ray cluster"


class _DropDefaultTokenAuthNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(_AUTH_DEFAULT_WARNING)


@contextlib.contextmanager
def _quiet_default_token_auth() -> Iterator[None]:
    """While a private local Ray starts: drop Ray's notice that it turned token authentication on.

    Token authentication stays on (Ray's default, and the token in ~/.ray/auth_token); only the
    notice goes, which every search would print. Setting RAY_AUTH_MODE=token would silence it too,
    but Ray reads that once, when it is imported: set later it leaves this process and the new
    cluster disagreeing, and Ray fails to start. Ray's other warnings (e.g. auth *disabled*, when a
    user sets RAY_AUTH_MODE=disabled) still show.
    """
    logger = logging.getLogger(_AUTH_LOGGER)
    quiet = _DropDefaultTokenAuthNotice()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


class RayExecutor(Executor):
    """`slots` TrialWorker actors, each with `cpus`/`gpus` per trial."""

    def __init__(
        self,
        data: Dataset,
        *,
        slots: int,
        cpus: float = 1.0,
        gpus: float = 0.0,
        address: str | None = None,
        runner: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        """`runner`: ("module:function", keywords) run on the workers instead of `run_trial`,
        called as ``function(job, data, on_epoch, **keywords)`` (`workers.null_trainer.NULL_RUNNER`)."""
        from workers._resident import without_test

        init_ray(address)
        self.slots = slots
        self._runner = runner
        self._options = {"num_cpus": cpus, "num_gpus": gpus}
        self._data_ref = ray.put(without_test(data))  # shipped once through the object store; no test split
        self._device = "cuda" if gpus > 0 else "cpu"
        self._idle = [self._new_actor() for _ in range(slots)]
        self._running: dict[Any, tuple[Any, TrialJob]] = {}  # ObjectRef -> (actor, job)
        self._listens: dict[Any, Any] = {}  # ObjectRef of an outstanding `listen` -> its actor

    def _new_actor(self):
        driver = (socket.gethostname(), os.getpid())
        return TrialWorker.options(**self._options).remote(self._data_ref, self._device, driver, self._runner)

    def submit(self, job: TrialJob) -> None:
        actor = self._idle.pop()
        self._running[actor.run.remote(job)] = (actor, job)
        self._listen(actor)

    def _listen(self, actor) -> None:
        """Keep one `listen` outstanding on `actor` (it answers the moment an epoch is reported)."""
        if not any(a is actor for a in self._listens.values()):
            self._listens[actor.listen.remote(LISTEN_S)] = actor

    def _busy(self, actor) -> bool:
        return any(a is actor for a, _ in self._running.values())

    def in_flight(self) -> list[int]:
        return [job.trial_id for _, job in self._running.values()]

    def running_pids(self) -> dict[int, int]:
        """trial id -> pid of the worker process training it."""
        return {
            job.trial_id: ray.get(actor.pid.remote(), timeout=CALL_TIMEOUT_S) for actor, job in self._running.values()
        }

    def wait(self, on_epoch: OnEpoch, on_done: OnDone, timeout: float = 0.5) -> None:
        """Block until an epoch is reported or a trial ends (at most `timeout`), then deliver
        everything that is ready: epochs first, then outcomes. No fixed poll: `ray.wait` on the
        runs and on each busy actor's outstanding `listen`."""
        if not self._running:
            return
        refs = [*self._listens, *self._running]
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if not ready:
            return
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)  # all that is ready now
        for ref in ready:  # epochs before outcomes: a trial's epochs are in before it ends
            if ref in self._listens:
                actor = self._listens.pop(ref)
                try:
                    events = ray.get(ref, timeout=CALL_TIMEOUT_S)
                except ray.exceptions.RayError:
                    continue  # a dead worker: its trial's own result reports the failure
                self._deliver(actor, events, on_epoch)
                if self._busy(actor):
                    self._listen(actor)
        for ref in ready:
            if ref not in self._running:
                continue
            actor, job = self._running.pop(ref)
            self._pump_epochs(on_epoch, only=[actor])  # epochs reported since its last `listen`
            try:
                result = ray.get(ref)
                self._idle.append(actor)
            except ray.exceptions.RayActorError as e:  # the worker process died
                result = TrialOutcome.failed(f"worker died: {str(e).splitlines()[0][:300]}")
                ray.kill(actor, no_restart=True)
                self._forget_listens(actor)
                self._idle.append(self._new_actor())
            except ray.exceptions.RayError as e:
                result = TrialOutcome.failed(f"{type(e).__name__}: {str(e).splitlines()[0][:300]}")
                self._idle.append(actor)
            on_done(job.trial_id, result)

    def _forget_listens(self, actor) -> None:
        for ref in [r for r, a in self._listens.items() if a is actor]:
            del self._listens[ref]

    def _deliver(self, actor, events: list[tuple[int, EpochMetrics]], on_epoch: OnEpoch) -> int:
        for trial_id, metrics in events:
            stop = bool(on_epoch(trial_id, metrics))
            actor.decide.remote(trial_id, metrics.epoch, stop)
        return len(events)

    def _pump_epochs(self, on_epoch: OnEpoch, only: list | None = None) -> int:
        actors = only if only is not None else [a for a, _ in self._running.values()]
        if not actors:
            return 0
        refs = [a.poll.remote() for a in actors]
        n = 0
        for actor, ref in zip(actors, refs, strict=False):
            try:
                events = ray.get(ref, timeout=CALL_TIMEOUT_S)
            except ray.exceptions.RayError:
                continue  # a dead worker: its trial's own result reports the failure
            n += self._deliver(actor, events, on_epoch)
        return n

    def close(self) -> None:
        for actor, _ in list(self._running.values()) + [(a, None) for a in self._idle]:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._running.clear()
        self._idle.clear()
        self._listens.clear()
