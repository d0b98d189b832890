"""The search driver: ask, canonicalise, dedupe, check constraints, dispatch, record, tell.

`Search` is a plain class: it owns the Optuna study and is the only writer to the database;
an `Executor` (in-process, or Ray actors) only runs trials. Tests drive it with
`LocalExecutor`; `nas search` uses `RayExecutor`.

Resume: a search is its name. Starting again reloads the study; trials a dead driver left
running are marked 'interrupted' (failed in Optuna) and their parameters re-queued, and
every finished trial counts towards `--trials` and is never redone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import os
import secrets
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

import db
import search_spaces
from nas.ir import Arch, cost
from nas.search import _faults
from nas.search._ray_boot import RayBoot
from nas.search.config import OBJECTIVES, ConfigError, SearchConfig
from nas.search.enqueue import arch_of, enqueue
from nas.search.keep import keeper_for, parse_save_weights, rank_key
from nas.search.strategy import make_pruner, make_sampler
from nas.search.tally import Tally
from nas.search.tracking import open_trackers
from nas.search.trial_attrs import name_metrics, set_arch_attrs, set_outcome_attrs
from nas.version import code_version
from workers.records import EpochMetrics, TrialJob, TrialOutcome, trial_seed

if TYPE_CHECKING:
    from workers.executor import Executor

#: Seconds the loop waits for news from the executor before checking the budget again.
POLL_SECONDS = 0.5
#: How often a running driver renews its claim on the search (`Store.heartbeat_search`).
HEARTBEAT_S = 5.0
#: A claim not renewed for this long is taken to be a dead driver's (on another machine; on this
#: machine a dead driver is recognised at once by its process id). Long, because an in-process
#: trial renews it only once per epoch.
CLAIM_STALE_S = 300.0
#: How each of our final trial states is told to Optuna. Infeasible samples are told PRUNED
#: rather than FAIL, so that samplers learn the region is bad. A duplicate is told FAIL, which
#: every Optuna sampler ignores: its result is the original trial's, already observed once, and
#: telling it again would over-weight a single run.
_OPTUNA_STATE = {
    "complete": TrialState.COMPLETE,
    "duplicate": TrialState.FAIL,
    "pruned": TrialState.PRUNED,
    "infeasible": TrialState.PRUNED,
    "failed": TrialState.FAIL,
    "interrupted": TrialState.FAIL,
    "screened": TrialState.PRUNED,
}


class SearchInterrupted(Exception):
    """Ctrl-C, SIGTERM or SIGHUP stopped the search; in-flight trials were recorded as interrupted.

    `exit_code` is the shell's convention for the signal: 128 + its number (130 for Ctrl-C).
    """

    def __init__(self, message: str, exit_code: int = 128 + signal.SIGINT) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class SearchBusy(ConfigError):
    """Another live driver process runs a search of this name."""


class _Signalled(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM or SIGHUP, so they stop the search as Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@dataclass(frozen=True)
class SearchSummary:
    """What a finished (or interrupted) run of a search did."""

    name: str
    db: str
    status: str
    requested: int | None
    counts: dict[str, int]
    ran_this_time: int
    elapsed_seconds: float
    best: dict | None  # trial, hash, val_accuracy, params, flops

    @property
    def trials_per_minute(self) -> float | None:
        """Trials trained this run per minute of this run's wall time (None before any ran)."""
        if self.ran_this_time == 0 or self.elapsed_seconds <= 0:
            return None
        return 60 * self.ran_this_time / self.elapsed_seconds


@dataclass
class _Live:
    """A trial in flight, plus later samples of the same architecture waiting on its result."""

    trial: optuna.trial.Trial
    trial_id: int
    arch_hash: str
    params: int
    flops: int
    waiting: list[optuna.trial.Trial] = field(default_factory=list)


class Search:
    """One run of a named search. Use `run()`; see the module docstring."""

    def __init__(
        self,
        config: SearchConfig,
        *,
        store=None,
        executor=None,
        data=None,
        progress: bool = False,
        draw=None,
        enqueue: Sequence[dict[str, Any]] = (),
    ):
        self.config = config
        self.space = search_spaces.get(config.space, **config.space_options)
        self._enqueue = list(enqueue)  # known designs to try first (`nas.search.enqueue`)
        # connected (created, migrated) in `run()` once every check has passed: a refused
        # search leaves the database file as it was, or absent
        self.store = store
        self._executor = executor
        self._data = data
        self.progress = progress
        self.key = config.train_config_key()
        self.epochs = config.train.epochs
        self._live: dict[int, _Live] = {}
        self._by_hash: dict[str, int] = {}
        self._pruned: dict[str, int] = {}  # arch hash -> id of the trial of this search that was pruned
        self._ran = 0
        self._bar = None
        self._last_post: dict = {}
        self._tally: Tally | None = None  # what the bar shows, updated per recorded trial (nas/search/tally.py)
        self._ray_boot = RayBoot()  # a private Ray started early, while the data loads (nas/search/_ray_boot.py)
        self._start = time.monotonic()
        # who runs the search: this process, recognisably (host and pid), and uniquely (token)
        self.driver_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._beat_at = 0.0
        # --tensorboard, --mlflow: nas/search/tracking.py; `draw` (tracking.ArchDrawer) from the CLI
        self.tracker = open_trackers(config, draw=draw)
        self._failure: Exception | None = None  # a driver-side error raised inside a trial's epoch callback
        self._asking: optuna.trial.Trial | None = None  # asked, not yet recorded, waiting or in flight
        self._proxy_batch: Any = None  # --prescreen's batch, from the loaded dataset `_data`

    # ---- set-up ------------------------------------------------------------------------
    def _existing(self):
        """The stored search of this name, read without writing a byte: None when there is no
        database, no ``nas_`` tables or no such search yet (or an older schema, which the writing
        connection migrates, after which `_check_resume` looks again)."""
        if self.store is not None:
            return self.store.get_search(self.config.name)
        try:
            reader = db.connect(self.config.db, read_only=True)
        except db.DatabaseError as e:
            if e.needs_writer:
                return None
            raise
        try:
            return reader.get_search(self.config.name)
        finally:
            reader.close()

    def _check_resume(self) -> None:
        """Refuse to resume a search of this name with another definition (reads only)."""
        c = self.config
        existing = self._existing()
        if existing is not None:
            old = SearchConfig.from_dict(existing.config).definition()
            for k, v in c.definition().items():
                was = old.get(k)
                if was != v:
                    if isinstance(was, dict) and isinstance(v, dict):  # only the settings that differ
                        keys = [i for i in {**was, **v} if was.get(i) != v.get(i)]
                        was, v = {i: was.get(i) for i in keys}, {i: v.get(i) for i in keys}
                    raise ConfigError(
                        f"search {c.name!r} already exists with {k}={was!r} (now {v!r}); "
                        f"resume it with the same options or pick a new --name"
                    )

    def _open(self) -> None:
        c = self.config
        self.record = self.store.create_or_get_search(
            c.name,
            space=c.space,
            space_options=self.space.options_dict(),
            dataset=c.dataset,
            train_config=c.train.to_dict(),
            objectives=list(c.objectives),
            config=c.to_dict(),
            code_version=code_version(),
            optuna_study_name=f"nas:{c.name}",
            driver=self.driver_id,
        )
        _faults.point("search.opened")
        self._claim()
        try:
            self.store.set_search_shape(c.name, self.shape, self.classes)
        except ValueError as e:
            raise ConfigError(f"search {c.name!r}: {e}") from None
        for rec in self.store.architectures_without_cost(c.name):  # trials of a search recorded before costs were
            k = cost(Arch.from_json(rec.canonical_json), self.shape, self.classes)
            self.store.add_cost(rec.hash, self.shape, self.classes, k.params, k.flops)
        storage = db.optuna_storage(self.store)  # the store's engine: one per URL, shared transactions
        directions = [OBJECTIVES[o] for o in c.objectives]
        self.study = optuna.create_study(
            storage=storage,
            study_name=self.record.optuna_study_name,
            load_if_exists=True,
            directions=directions,
            pruner=make_pruner("none" if c.multi_objective else c.pruner),
        )
        name_metrics(self.study, c.objectives)  # Optuna's tools show val_accuracy, params, ...
        # offset the seed by the trials so far: a resumed seeded sampler must not replay its proposals
        self.study.sampler = make_sampler(c.sampler, c.seed + len(self.study.trials), len(directions), c.trials)
        self._recover()
        if self._enqueue:  # --enqueue-preset / --enqueue: the next trials asked (nas/search/enqueue.py)
            with self.store.transaction():
                enqueue(self.study, self._enqueue, self.shape)
        # --save-weights top:K: who holds weights now, and the ranking that decides (nas/search/keep.py)
        self._keeper = keeper_for(self.store, c.name, c.objectives, c.save_weights)

    def _claim(self) -> None:
        """Become the one driver of this search, or refuse to run (`SearchBusy`).

        Two processes on one name would train architectures twice and tell Optuna about each
        other's trials; so the second is refused while the first is alive. A dead driver's claim
        is taken over at once on the same machine, else once it is `CLAIM_STALE_S` old.
        """
        name = self.config.name
        held = self.store.claim_search(name, self.driver_id, stale_after_s=CLAIM_STALE_S)
        if held is not None and _dead_here(held[0]):
            held = self.store.claim_search(name, self.driver_id, stale_after_s=CLAIM_STALE_S, steal_from=held[0])
        if held is not None:
            holder, age = held
            host, _, rest = holder.partition(":")
            seen = "" if age is None else f", last heard from {age:.0f} s ago"
            raise SearchBusy(
                f"search {name!r} is being run by process {rest.partition(':')[0]} on {host}{seen}; "
                "wait for it to finish, stop it, or use another --name"
            )
        self._beat_at = time.monotonic()

    def _beat(self) -> None:
        if time.monotonic() - self._beat_at >= HEARTBEAT_S:
            self._beat_at = time.monotonic()
            self.store.heartbeat_search(self.config.name, self.driver_id)

    def _recover(self) -> None:
        """Close what a killed driver left running and re-queue those architectures."""
        for t in self.store.trials(self.config.name, states="pruned"):
            if t.arch_hash is not None and t.duplicate_of is None:
                self._pruned.setdefault(t.arch_hash, t.id)
        # one transaction: a driver killed while recovering leaves it all to recover again
        with self.store.transaction():
            interrupted = set(self.store.mark_interrupted(self.config.name))
            _faults.point("recover")
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                self.study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
                if t.number in interrupted or self.store.get_trial(self.config.name, t.number) is None:
                    self.study.enqueue_trial(t.params, user_attrs={"requeued_from": t.number})

    def _load_data(self):
        if self._data is None:
            from workers.datasets import load_dataset

            c = self.config
            self._data = load_dataset(
                c.dataset,
                data_dir=c.data_dir,
                image_size=c.image_size,
                val_fraction=c.val_fraction,
                seed=c.seed,
                subset=c.subset,
            )
        return self._data

    def _check_ray_request(self) -> None:
        """What can be told without starting Ray: the address is one we can use and answers, and
        a trial fits this machine when it trains here (local executor, or Ray without --address).

        `ray://` (Ray Client) is refused: the package depends on Ray core only, not on
        `ray[client]`, and the driver must run where its workers can watch it (a machine of the
        cluster, which reaches the cluster at its GCS address HOST:6379).
        """
        c = self.config
        if c.address and c.address.strip().lower().startswith("ray://"):
            raise ConfigError(
                f"--address {c.address}: Ray Client (ray://) addresses are not supported; run `nas search` on a "
                "machine of the cluster with --address HOST:6379 (its GCS address), or leave --address out"
            )
        if c.address and c.executor == "ray":
            from workers.ray_executor import check_address

            check_address(c.address)
            return
        cpus = os.cpu_count() or 1
        if c.cpus_per_trial > cpus:
            raise ConfigError(
                f"--cpus-per-trial {c.cpus_per_trial:g}: this machine has {cpus} CPUs, so no trial could ever "
                "start; ask for fewer"
            )

    def _make_executor(self, slots_wanted: int | None) -> Executor:
        c = self.config
        data = self._load_data()
        if c.executor == "local":
            from workers.executor import LocalExecutor

            return LocalExecutor(data)
        from workers.ray_executor import RayExecutor, init_ray

        self._ray_boot.wait()  # started by `_run`, or nothing to wait for
        init_ray(c.address)
        import ray

        res = ray.cluster_resources()
        if c.cpus_per_trial > res.get("CPU", 0):
            raise ConfigError(
                f"--cpus-per-trial {c.cpus_per_trial:g}: the Ray cluster has {res.get('CPU', 0):g} CPUs, so no trial "
                "could ever start; ask for fewer"
            )
        gpus = c.gpus_per_trial if c.gpus_per_trial is not None else (1.0 if res.get("GPU", 0) >= 1 else 0.0)
        if gpus > res.get("GPU", 0):
            raise ConfigError(
                f"--gpus-per-trial {gpus}: the Ray cluster has {res.get('GPU', 0):g} GPUs; use 0 for CPU training"
            )
        fit = res.get("CPU", 1) // c.cpus_per_trial
        if gpus > 0:
            fit = min(fit, math.floor(res["GPU"] / gpus + 1e-9))
        slots = max(1, c.concurrency or int(fit) or 1)
        if slots_wanted is not None:  # never more actors than trials left
            slots = min(slots, slots_wanted)
        return RayExecutor(data, slots=slots, cpus=c.cpus_per_trial, gpus=gpus, address=c.address)

    # ---- the loop ----------------------------------------------------------------------
    def run(self) -> SearchSummary:
        """Run until the budget is spent. Raises SearchInterrupted on Ctrl-C/SIGTERM."""
        try:
            return self._run()
        except Exception as e:
            # a database failure met inside Optuna's storage (e.g. locked for longer than the busy
            # timeout) arrives as Optuna's StorageInternalError: say it as the store would, in one line
            translated = None if self.store is None else db.optuna_error(self.store, e)
            if translated is not None:
                raise translated from e
            raise
        finally:
            self._ray_boot.settle()  # a Ray started early and never used (refused, budget spent) is stopped

    def _run(self) -> SearchSummary:
        start = self._start = time.monotonic()
        c = self.config
        # everything that can be refused is checked before the first write: a mistyped dataset
        # or an unreachable cluster leaves no search row behind
        self._check_resume()
        if self._executor is None and c.executor == "ray" and not c.address:
            self._check_ray_request()  # a trial that cannot fit here is refused before Ray starts
            self._ray_boot = RayBoot.start()  # Ray starts while the data loads and the database opens
        data = self._load_data()
        self.shape, self.classes = data.input_shape, data.num_classes
        self._data = data
        if len(data.train) < data.num_classes or len(data.val) < 1:
            raise ConfigError(
                f"--subset {c.subset}: leaves {len(data.train)} training and {len(data.val)} validation images "
                f"for {data.num_classes} classes; use at least {10 * data.num_classes} (and --val-fraction > 0)"
            )
        if self._executor is None:
            self._check_ray_request()  # an unreachable cluster or impossible request fails before any write
        if self.store is None:
            self.store = db.connect(c.db)  # the first write: creates or migrates the database
            self._check_resume()  # again, in case the read-only look could not read an older schema
        self._open()
        remaining = self._remaining()
        executor = None
        owns_executor = self._executor is None
        try:
            with _signals_as_interrupt():
                if remaining is None or remaining > 0:
                    executor = self._executor or self._make_executor(remaining)
                    with contextlib.suppress(ValueError):  # not the main thread
                        _take_stop_signals()  # again: starting Ray replaced them
                    self._start_bar()
                    while True:
                        timed_out = c.time_budget is not None and time.monotonic() - start >= c.time_budget
                        while not timed_out and len(self._live) < executor.slots and self._want_more():
                            self._ask_one(executor)
                        if not self._live:
                            break
                        executor.wait(self._on_epoch, self._on_done, timeout=POLL_SECONDS)
                        if self._failure is not None:  # see `_on_epoch`
                            raise self._failure
                        self._beat()
                        self._update_bar()
                    _faults.point("release")
        except BaseException as e:
            if not isinstance(e, KeyboardInterrupt):
                # anything else (a bad resource request, Ray failing to start, a database error):
                # in-flight trials are interrupted and the search is not left 'running'
                with _signals_ignored(), contextlib.suppress(Exception):  # the original error is the news
                    self._interrupt(executor, status="failed")
                raise
            # Ray's blocking calls turn any exception from a signal handler into a plain
            # KeyboardInterrupt: the signal that stopped us is also noted by the handler
            signum = e.signum if isinstance(e, _Signalled) else _stopped_by.pop() if _stopped_by else signal.SIGINT
            with _signals_ignored():  # a second signal must not cut the clean-up short
                self._interrupt(executor)
            why = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
            raise SearchInterrupted(
                f"search {c.name!r} {why}; run the same command again to resume it", exit_code=128 + signum
            ) from None
        finally:
            if self._bar is not None:
                self._bar.close()
            self.tracker.close()
            if executor is not None and owns_executor:
                executor.close()
        self.store.release_search(c.name, self.driver_id, "finished")
        return self.summary(time.monotonic() - start)

    def _budget_spent(self) -> bool:
        budget = self.config.time_budget
        return budget is not None and time.monotonic() - self._start >= budget - 1.0

    def _remaining(self) -> int | None:
        if self.config.trials is None:
            return None
        return self.config.trials - self.store.count_trials(self.config.name, states=db.BUDGET_TRIAL_STATES)

    def _want_more(self) -> bool:
        left = self._remaining()
        waiting = sum(len(v.waiting) for v in self._live.values())
        return left is None or left - len(self._live) - waiting > 0

    def _ask_one(self, executor) -> None:
        self._asking = self.study.ask()
        _faults.point("ask")
        if self.config.prescreen:
            self._asking = self._prescreen(self._asking)
        self._dispatch(self._asking, executor)
        self._asking = None  # left set when that raised: `_interrupt` closes the trial

    def _dispatch(self, trial: optuna.trial.Trial, executor) -> None:
        c = self.config
        with self.store.transaction():  # the trial's ~50 suggested parameters: one commit, not one each
            arch = arch_of(trial, self.space)
        h = self._identity(arch)
        k = cost(arch, self.shape, self.classes)
        self.store.upsert_architecture(
            h, arch.to_json(), k.params, k.flops, arch.summary(), input_shape=self.shape, num_classes=self.classes
        )
        with self.store.transaction():  # arch_hash, params, flops, arch: one commit
            set_arch_attrs(trial, h, arch.to_json(), k.params, k.flops)
        over = [
            f"{n} {v:,} > {lim:,}"
            for n, v, lim in (("params", k.params, c.max_params), ("flops", k.flops, c.max_flops))
            if lim is not None and v > lim
        ]
        if over:
            reason = "over the limit: " + ", ".join(over)
            trial.set_user_attr("infeasible", reason)
            self._record(trial, "infeasible", arch_hash=h, error=reason)
            return self._tick()
        done = self.store.find_completed(h, self.key)
        if done is not None:
            self._tell_duplicate(trial, done.id, done.val_accuracy, k.params, k.flops)
            return self._tick()
        if h in self._pruned:  # stopped early before: told pruned again at the same step, not retrained
            self._tell_pruned_again(trial, self._pruned[h])
            return self._tick()
        if h in self._by_hash:  # the same network is training right now: wait for it
            self._live[self._by_hash[h]].waiting.append(trial)
            return None
        seed = trial_seed(c.seed, trial.number)
        trial.set_user_attr("seed", seed)
        trial_id = self.store.start_trial(c.name, trial.number, h, self.key)
        _faults.point("trial.started")
        left = None if c.time_budget is None else max(1.0, c.time_budget - (time.monotonic() - self._start))
        executor.submit(
            TrialJob(
                trial_id,
                trial.number,
                arch.to_json(),
                dataclasses.replace(c.train, seed=seed),
                save_weights=parse_save_weights(c.save_weights) != 0,
                max_seconds=left,
                threads=max(1, int(c.cpus_per_trial)),
            )
        )
        self._live[trial_id] = _Live(trial, trial_id, h, k.params, k.flops)
        self._by_hash[h] = trial_id
        self._ran += 1
        self.tracker.trial_started(trial.number, arch_hash=h, arch_json=arch.to_json(), params=k.params, flops=k.flops)
        return None

    def _prescreen(self, first: optuna.trial.Trial) -> optuna.trial.Trial:
        """Ask `--prescreen` - 1 more candidates, score all with `--proxy`, record all but the best
        as screened; returns the best (`nas.search.prescreen`)."""
        from nas.search import prescreen

        c = self.config
        assert c.prescreen is not None
        if self._proxy_batch is None:
            self._proxy_batch = prescreen.proxy_batch(self._data, c.seed)
        candidates = [first]
        try:
            while len(candidates) < c.prescreen:
                candidates.append(self.study.ask())
            with self.store.transaction():
                archs = [arch_of(t, self.space) for t in candidates]
            values = prescreen.scores(archs, c.proxy, self._proxy_batch, self.classes, c.seed)
        except BaseException:
            for t in candidates[1:]:  # the first is `_asking`: `_interrupt` closes it
                self.study.tell(t, state=TrialState.FAIL, skip_if_finished=True)
                self.study.enqueue_trial(t.params, user_attrs={"requeued_from": t.number})
            raise
        best = max(range(len(candidates)), key=lambda i: values[i])
        for i, (trial, arch) in enumerate(zip(candidates, archs, strict=True)):
            trial.set_user_attr(c.proxy, values[i])
            if i == best:
                continue
            h = self._identity(arch)
            k = cost(arch, self.shape, self.classes)
            self.store.upsert_architecture(
                h, arch.to_json(), k.params, k.flops, arch.summary(), input_shape=self.shape, num_classes=self.classes
            )
            reason = f"screened out: {c.proxy} {values[i]:.4g} < {values[best]:.4g} of trial {candidates[best].number}"
            self._record(trial, "screened", arch_hash=h, error=reason)
        return candidates[best]

    def _identity(self, arch: Arch) -> str:
        """The database key of `arch`: its hash, confirmed by isomorphism.

        The WL hash is an index, not a proof (tests/nas/test_arch.py pins a real collision): if
        the stored network under that hash is a different graph, the key is re-derived until it
        names this graph or a free slot.
        """
        key = arch.hash()
        while True:
            stored = self.store.get_architecture(key)
            if stored is None or Arch.from_json(stored.canonical_json).isomorphic(arch):
                return key
            key = hashlib.sha256(f"{key}:collision".encode()).hexdigest()

    def _values(self, acc: float, params: int, flops: int) -> list[float]:
        extra = {"params": params, "flops": flops}
        return [acc] + [float(extra[o]) for o in self.config.objectives[1:]]

    def _tell_duplicate(self, trial, of_id: int, acc: float, params: int, flops: int) -> None:
        trial.set_user_attr("duplicate_of_trial_id", of_id)
        _faults.point("duplicate")
        values = self._values(acc, params, flops)
        self._record(trial, "duplicate", arch_hash=trial.user_attrs["arch_hash"], values=values, duplicate_of=of_id)

    def _tell_pruned_again(self, trial, of_id: int) -> None:
        """A pruned architecture sampled again: Optuna hears its stored learning curve and that it
        was pruned at the same step; the `nas_` row points at the trial that trained it."""
        epochs = self.store.epochs(of_id)
        if not self.config.multi_objective:
            for e in epochs:
                if e.val_accuracy is not None:
                    trial.report(e.val_accuracy, e.epoch)
        original = self.store.get_trial_by_id(of_id)
        number = original.optuna_number if original else of_id
        trial.set_user_attr("pruned_as_trial", number)
        _faults.point("pruned_again")
        self._record(
            trial,
            "pruned",
            arch_hash=trial.user_attrs["arch_hash"],
            duplicate_of=of_id,
            epochs_run=len(epochs),
            error=f"pruned before as trial {number} after {len(epochs)} epochs; not trained again",
        )

    def _record(
        self,
        trial: optuna.trial.Trial,
        state: str,
        *,
        trial_id: int | None = None,
        arch_hash: str | None = None,
        values: list[float] | None = None,
        weights: tuple[bytes, dict] | None = None,
        drop: tuple[int, ...] = (),
        **fields: Any,
    ) -> None:
        """Record a trial's outcome in the `nas_` tables and in Optuna's, in one transaction.

        This is the only place a trial's final state is written. `trial_id` names a trial
        started with `Store.start_trial` (a trained trial); without it the trial is recorded
        whole (a duplicate or an infeasible sample). Optuna is told `_OPTUNA_STATE[state]`.
        """
        with self.store.transaction():
            _faults.point("record.begin")
            if trial_id is None:
                self.store.record_trial(self.config.name, trial.number, arch_hash, self.key, state, **fields)
                _faults.point("record.rows")
            else:
                self.store.finish_trial(trial_id, state, **fields)
                _faults.point("record.rows")
                if weights is not None:
                    self.store.add_artifact(trial_id, "weights", weights[0], meta=weights[1])
                    _faults.point("record.weights")
                if drop:  # the weights of trials this one pushed out of the top K (--save-weights top:K)
                    self.store.delete_artifacts(drop, "weights")
            set_outcome_attrs(trial, fields, self.epochs)  # epochs, fidelity, train_seconds
            optuna_state = _OPTUNA_STATE[state]
            if optuna_state == TrialState.COMPLETE:
                self.study.tell(trial, values)
            else:
                self.study.tell(trial, state=optuna_state, skip_if_finished=True)
            _faults.point("record.told")
        _faults.point("record.committed")
        if self._tally is not None:
            self._tally.add(state, values[0] if values else None)
        self.tracker.trial_finished(trial.number, state, fields)

    # ---- events from the executor ------------------------------------------------------
    def _on_epoch(self, trial_id: int, metrics: EpochMetrics) -> bool:
        try:
            return self._epoch(trial_id, metrics)
        except Exception as e:
            # the driver's own failure (e.g. the database locked for too long), not the trial's:
            # stop the trial; `_on_done` or the loop raises it, instead of recording a failed trial
            self._failure = self._failure or e
            return True

    def _epoch(self, trial_id: int, metrics: EpochMetrics) -> bool:
        self.store.add_epoch(trial_id, metrics.to_dict())
        _faults.point("epoch")
        self._beat()  # an in-process trial holds the loop for its whole run
        live = self._live.get(trial_id)
        if live is not None:
            self.tracker.epoch(live.trial.number, metrics)
        if live is None or self.config.multi_objective or metrics.val_accuracy is None:
            return False
        live.trial.report(metrics.val_accuracy, metrics.epoch)  # every epoch, the last one included
        if metrics.epoch >= self.epochs:
            return False  # training is over: the trial completes, nothing left to save
        return live.trial.should_prune()

    def _on_done(self, trial_id: int, outcome: TrialOutcome) -> None:
        if self._failure is not None:  # see `_on_epoch`: the trial stays in flight, `run` interrupts it
            failure, self._failure = self._failure, None
            raise failure
        # `live` leaves `_live` only once its outcome and its waiting repeats are recorded: after an
        # error or a stop signal before then, the clean-up (`_interrupt`) closes what is not
        live = self._live[trial_id]
        status = outcome.status
        fields = outcome.metrics()
        if status == "complete" and outcome.epochs_run < self.epochs:
            status = "timeout"  # a trainer that ended early is not a full-fidelity result
        if status == "complete" and outcome.val_accuracy is not None:
            values = self._values(outcome.val_accuracy, live.params, live.flops)
            key = rank_key(outcome.val_accuracy, values[1:], live.params, live.trial.number)
            keep = self._keeper.offer(trial_id, key)  # --save-weights: store these? whose to delete?
            weights = None
            if outcome.weights and keep.store:
                # the input normalisation travels with the weights, so export needs no dataset
                meta = {"shape": list(self.shape), "mean": list(self._data.mean), "std": list(self._data.std)}
                weights = (outcome.weights, meta)
            self._record(
                live.trial, "complete", trial_id=trial_id, values=values, weights=weights, drop=keep.delete, **fields
            )
            self._keeper.accept(trial_id, key, dataclasses.replace(keep, store=weights is not None))
            for t in live.waiting:
                self._tell_duplicate(t, trial_id, outcome.val_accuracy, live.params, live.flops)
        elif status in ("stopped", "timeout") and outcome.epochs_run:
            # A capped run (--trial-timeout, or the search's --time-budget) is recorded at the
            # fidelity it reached: pruned, its epochs reported to Optuna; never ranked with full runs.
            if status == "stopped":
                why = "pruned by the early-stopping rule"
            elif self._budget_spent():
                why = "stopped by the search's --time-budget"
            else:
                why = "capped by --trial-timeout"
            error = f"{why} after {outcome.epochs_run} of {self.epochs} epochs"
            self._record(live.trial, "pruned", trial_id=trial_id, error=error, **fields)
            self._pruned.setdefault(live.arch_hash, trial_id)
            for t in live.waiting:
                self._tell_pruned_again(t, trial_id)
        else:
            reason = outcome.reason or f"trial ended with status {status!r}"
            self._record(live.trial, "failed", trial_id=trial_id, error=reason, **fields)
            self._requeue(live.waiting)
        self._live.pop(trial_id, None)
        self._by_hash.pop(live.arch_hash, None)
        self._tick()

    def _requeue(self, trials) -> None:
        """Samples that waited on a trial that did not complete: close them, propose again."""
        for t in trials:
            with self.store.transaction():  # closed and proposed again, or neither
                self.study.tell(t, state=TrialState.FAIL)
                self.study.enqueue_trial(t.params, user_attrs={"requeued_from": t.number})

    def _interrupt(self, executor, status: str = "interrupted") -> None:
        if executor is not None:
            executor.close()
        told = {t.number for t in self.study.get_trials(deepcopy=False) if t.state.is_finished()}
        asking, self._asking = self._asking, None
        in_flight = any(v.trial is asking for v in self._live.values())
        if asking is not None and asking.number not in told and not in_flight:
            row = self.store.get_trial(self.config.name, asking.number)
            if row is None:  # asked, not recorded: closed and proposed again
                self.study.tell(asking, state=TrialState.FAIL, skip_if_finished=True)
            elif row.state == "running":  # its row written, never submitted
                self._record(asking, "interrupted", trial_id=row.id, error="interrupted before it started")
            if row is None or row.state == "running":
                self.study.enqueue_trial(asking.params, user_attrs={"requeued_from": asking.number})
            told.add(asking.number)
        for live in self._live.values():
            row = self.store.get_trial_by_id(live.trial_id)
            # a trial stopped just after its outcome was committed is recorded already
            if row is None or row.state == "running":
                self._record(live.trial, "interrupted", trial_id=live.trial_id, error="interrupted before it finished")
                self.study.enqueue_trial(live.trial.params, user_attrs={"requeued_from": live.trial.number})
            for t in live.waiting:
                if t.number not in told:
                    self.study.tell(t, state=TrialState.FAIL, skip_if_finished=True)
                    self.study.enqueue_trial(t.params, user_attrs={"requeued_from": t.number})
        self._live.clear()
        self.store.release_search(self.config.name, self.driver_id, status)

    # ---- progress and summary ----------------------------------------------------------
    def _start_bar(self) -> None:
        if not self.progress:
            return
        from tqdm.auto import tqdm

        total = self.config.trials
        done = self.store.count_trials(self.config.name, states=db.BUDGET_TRIAL_STATES)
        self._bar = tqdm(
            total=total, initial=done, desc=self.config.name, unit="trial", dynamic_ncols=True, mininterval=1.0
        )
        self._tally = Tally.load(self.store, self.config.name)  # read once; then kept up to date by `_record`
        self._update_bar()

    def _tick(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def _update_bar(self) -> None:
        if self._bar is None or self._tally is None:
            return
        counts, best = self._tally.counts, self._tally.best  # no rescan of the trials per outcome
        post = {
            "running": len(self._live),
            "pruned": counts.get("pruned", 0),
            "failed": counts.get("failed", 0),
            "dup": counts.get("duplicate", 0),
            "infeasible": counts.get("infeasible", 0),
            "best": f"{best:.4f}" if best is not None else "-",
        }
        if self.config.time_budget is not None:
            post["left"] = f"{max(0, self.config.time_budget - (time.monotonic() - self._start)) // 10 * 10:.0f}s"
        if post != self._last_post:  # redraw on change only: logs of non-terminal runs stay short
            self._last_post = post
            self._bar.set_postfix(post, refresh=True)

    def _counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.store.trials(self.config.name):
            out[t.state] = out.get(t.state, 0) + 1
        return out

    def _best(self) -> dict | None:
        rows = self.store.leaderboard(self.config.name, top=1)
        if not rows:
            return None
        r = rows[0]
        return {"trial": r.trial, "hash": r.hash, "val_accuracy": r.val_accuracy, "params": r.params, "flops": r.flops}

    def summary(self, elapsed: float = 0.0) -> SearchSummary:
        rec = self.store.get_search(self.config.name)
        return SearchSummary(
            name=self.config.name,
            db=self.config.db,
            status=rec.status if rec else "unknown",
            requested=self.config.trials,
            counts=self._counts(),
            ran_this_time=self._ran,
            elapsed_seconds=elapsed,
            best=self._best(),
        )


def run_search(
    config: SearchConfig, *, progress: bool = False, executor=None, data=None, draw=None, enqueue=()
) -> SearchSummary:
    """Run (or resume) the search `config.name`; the Python face of `nas search`. `draw`: how
    `--tensorboard` draws an architecture (`nas.viz.draw.tracker_drawing`, which `nas search`
    passes; this package may not import `nas.viz`). `enqueue`: `nas.search.enqueue.Item`s to try first."""
    return Search(config, executor=executor, data=data, progress=progress, draw=draw, enqueue=enqueue).run()


def search(**options) -> SearchSummary:
    """`run_search(SearchConfig(**options))`, e.g. ``nas.search(name="s1", trials=8)``."""
    progress = options.pop("progress", False)
    return run_search(SearchConfig(**options), progress=progress)


def _dead_here(driver: str) -> bool:
    """True when `driver` ("host:pid:token") names a process of this machine that is gone (or
    this very process: a run that ended without releasing its claim)."""
    host, _, rest = driver.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True  # an earlier run in this process that ended without releasing it
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


#: Signals that stop a search cleanly, as Ctrl-C does (SIGHUP: the terminal went away).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


#: The stop signal (SIGTERM, SIGHUP) received, while a search runs; see `run`.
_stopped_by: list[int] = []


def _raise_signalled(signum, frame):
    _stopped_by[:] = [signum]
    raise _Signalled(signum)


@contextlib.contextmanager
def _signals_as_interrupt():
    """Turn SIGTERM and SIGHUP into `_Signalled` (a KeyboardInterrupt) in the main thread, so a
    stopped job records its in-flight trials and leaves no search 'running'.

    Starting Ray installs Ray's own fatal-signal handler (it aborts the process on SIGTERM), so
    the loop calls `_take_stop_signals()` again once the executor is up.
    """
    _stopped_by.clear()
    try:
        previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
        _take_stop_signals()
    except ValueError:  # not the main thread: signals stay as they are
        yield
        return
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


def _take_stop_signals() -> None:
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_signalled)


@contextlib.contextmanager
def _signals_ignored():
    """Hold off Ctrl-C, SIGTERM and SIGHUP while the interrupted search is recorded."""
    try:
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, *STOP_SIGNALS)}
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
