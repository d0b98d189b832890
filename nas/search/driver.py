"""The search driver: ask, canonicalise, dedupe, check constraints, dispatch, record, tell.

`Search` is a plain class: it owns the Optuna study and is the only writer to the database;
an `Executor` (in-process, or Ray actors) only runs trials. Tests drive it with
`LocalExecutor`; `nas search` uses `RayExecutor`.

Resume: a search is its name. Starting again reloads the study; trials a dead driver left
running are marked 'interrupted' (failed in Optuna) and their parameters re-queued, and
every finished trial counts towards `--trials` and is never redone.
"""

from __future__ import annotations

import hashlib
import math
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

import db
import search_spaces
from nas.ir import Arch, cost
from nas.search.config import OBJECTIVES, ConfigError, SearchConfig
from nas.search.strategy import make_pruner, make_sampler
from nas.version import code_version
from workers.records import EpochMetrics, TrialJob, TrialOutcome

if TYPE_CHECKING:
    from workers.executor import Executor

#: Seconds the loop waits for news from the executor before checking the budget again.
POLL_SECONDS = 0.5
#: How each of our final trial states is told to Optuna. Infeasible samples are told PRUNED
#: rather than FAIL, so that samplers learn the region is bad.
_OPTUNA_STATE = {
    "complete": TrialState.COMPLETE,
    "duplicate": TrialState.COMPLETE,
    "pruned": TrialState.PRUNED,
    "infeasible": TrialState.PRUNED,
    "failed": TrialState.FAIL,
    "interrupted": TrialState.FAIL,
}


class SearchInterrupted(Exception):
    """Ctrl-C or SIGTERM stopped the search; in-flight trials were recorded as interrupted."""


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

    def __init__(self, config: SearchConfig, *, store=None, executor=None, data=None, progress: bool = False):
        self.config = config
        self.space = search_spaces.get(config.space, **config.space_options)
        self.store = store or db.connect(config.db)
        self._executor = executor
        self._data = data
        self.progress = progress
        self.key = config.train_config_key()
        self.epochs = config.train.epochs
        self._live: dict[int, _Live] = {}
        self._by_hash: dict[str, int] = {}
        self._ran = 0
        self._bar = None
        self._last_post: dict = {}
        self._stats: tuple[dict, dict | None] | None = None
        self._start = time.monotonic()

    # ---- set-up ------------------------------------------------------------------------
    def _open(self) -> None:
        c = self.config
        existing = self.store.get_search(c.name)
        if existing is not None:
            old = SearchConfig.from_dict(existing.config).definition()
            for k, v in c.definition().items():
                if old.get(k) != v:
                    raise ConfigError(
                        f"search {c.name!r} already exists with {k}={old.get(k)!r} (now {v!r}); "
                        f"resume it with the same options or pick a new --name"
                    )
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
        )
        self.store.set_search_status(c.name, "running")
        storage = db.optuna_storage(self.store)  # the store's engine: one per URL, shared transactions
        directions = [OBJECTIVES[o] for o in c.objectives]
        self.study = optuna.create_study(
            storage=storage,
            study_name=self.record.optuna_study_name,
            load_if_exists=True,
            directions=directions,
            pruner=make_pruner("none" if c.multi_objective else c.pruner),
        )
        # offset the seed by the trials so far: a resumed seeded sampler must not replay its proposals
        self.study.sampler = make_sampler(c.sampler, c.seed + len(self.study.trials), len(directions))
        self._recover()

    def _recover(self) -> None:
        """Close what a killed driver left running and re-queue those architectures."""
        interrupted = set(self.store.mark_interrupted(self.config.name))
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

    def _make_executor(self, slots_wanted: int | None) -> Executor:
        c = self.config
        data = self._load_data()
        if c.executor == "local":
            from workers.executor import LocalExecutor

            return LocalExecutor(data)
        from workers.ray_executor import RayExecutor, init_ray

        init_ray(c.address)
        import ray

        res = ray.cluster_resources()
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
        start = self._start = time.monotonic()
        self._open()
        c = self.config
        remaining = self._remaining()
        executor = None
        owns_executor = self._executor is None
        try:
            with _sigterm_as_interrupt():
                if remaining is None or remaining > 0:
                    data = self._load_data()
                    self.shape, self.classes = data.input_shape, data.num_classes
                    executor = self._executor or self._make_executor(remaining)
                    self._start_bar()
                    while True:
                        timed_out = c.time_budget is not None and time.monotonic() - start >= c.time_budget
                        while not timed_out and len(self._live) < executor.slots and self._want_more():
                            self._ask_one(executor)
                        if not self._live:
                            break
                        executor.wait(self._on_epoch, self._on_done, timeout=POLL_SECONDS)
                        self._update_bar()
        except KeyboardInterrupt:
            self._interrupt(executor)
            raise SearchInterrupted(f"search {c.name!r} interrupted; run the same command again to resume it") from None
        finally:
            if self._bar is not None:
                self._bar.close()
            if executor is not None and owns_executor:
                executor.close()
        self.store.set_search_status(c.name, "finished")
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
        c = self.config
        trial = self.study.ask()
        arch = self.space.sample(trial).canonical()
        h = self._identity(arch)
        k = cost(arch, self.shape, self.classes)
        self.store.upsert_architecture(h, arch.to_json(), k.params, k.flops, arch.summary())
        trial.set_user_attr("arch_hash", h)
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
        if h in self._by_hash:  # the same network is training right now: wait for it
            self._live[self._by_hash[h]].waiting.append(trial)
            return None
        trial_id = self.store.start_trial(c.name, trial.number, h, self.key)
        left = None if c.time_budget is None else max(1.0, c.time_budget - (time.monotonic() - self._start))
        executor.submit(
            TrialJob(
                trial_id,
                trial.number,
                arch.to_json(),
                c.train,
                save_weights=c.save_weights == "all",
                max_seconds=left,
            )
        )
        self._live[trial_id] = _Live(trial, trial_id, h, k.params, k.flops)
        self._by_hash[h] = trial_id
        self._ran += 1
        return None

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
        values = self._values(acc, params, flops)
        self._record(trial, "duplicate", arch_hash=trial.user_attrs["arch_hash"], values=values, duplicate_of=of_id)

    def _record(
        self,
        trial: optuna.trial.Trial,
        state: str,
        *,
        trial_id: int | None = None,
        arch_hash: str | None = None,
        values: list[float] | None = None,
        weights: tuple[bytes, dict] | None = None,
        **fields: Any,
    ) -> None:
        """Record a trial's outcome in the `nas_` tables and in Optuna's, in one transaction.

        This is the only place a trial's final state is written. `trial_id` names a trial
        started with `Store.start_trial` (a trained trial); without it the trial is recorded
        whole (a duplicate or an infeasible sample). Optuna is told `_OPTUNA_STATE[state]`.
        """
        with self.store.transaction():
            if trial_id is None:
                self.store.record_trial(self.config.name, trial.number, arch_hash, self.key, state, **fields)
            else:
                self.store.finish_trial(trial_id, state, **fields)
                if weights is not None:
                    self.store.add_artifact(trial_id, "weights", weights[0], meta=weights[1])
            optuna_state = _OPTUNA_STATE[state]
            if optuna_state == TrialState.COMPLETE:
                self.study.tell(trial, values)
            else:
                self.study.tell(trial, state=optuna_state, skip_if_finished=True)

    # ---- events from the executor ------------------------------------------------------
    def _on_epoch(self, trial_id: int, metrics: EpochMetrics) -> bool:
        self.store.add_epoch(trial_id, metrics.to_dict())
        live = self._live.get(trial_id)
        if live is None or self.config.multi_objective or metrics.val_accuracy is None:
            return False
        if metrics.epoch >= self.epochs:
            return False  # training is over: the trial completes, nothing left to save
        live.trial.report(metrics.val_accuracy, metrics.epoch)
        return live.trial.should_prune()

    def _on_done(self, trial_id: int, outcome: TrialOutcome) -> None:
        live = self._live.pop(trial_id)
        self._by_hash.pop(live.arch_hash, None)
        status = outcome.status
        fields = outcome.metrics()
        if status == "timeout" and outcome.epochs_run and not self._budget_spent():
            status = "complete"  # the per-trial time cap (--trial-timeout): a result at lower fidelity
        if status == "complete" and outcome.val_accuracy is not None:
            weights = None
            if outcome.weights:
                # the input normalisation travels with the weights, so export needs no dataset
                meta = {"shape": list(self.shape), "mean": list(self._data.mean), "std": list(self._data.std)}
                weights = (outcome.weights, meta)
            values = self._values(outcome.val_accuracy, live.params, live.flops)
            self._record(live.trial, "complete", trial_id=trial_id, values=values, weights=weights, **fields)
            for t in live.waiting:
                self._tell_duplicate(t, trial_id, outcome.val_accuracy, live.params, live.flops)
        elif status in ("stopped", "timeout") and outcome.epochs_run:
            why = "pruned by the early-stopping rule" if status == "stopped" else "stopped by the time budget"
            error = f"{why} after {outcome.epochs_run} epochs"
            self._record(live.trial, "pruned", trial_id=trial_id, error=error, **fields)
            self._requeue(live.waiting)
        else:
            reason = outcome.reason or f"trial ended with status {status!r}"
            self._record(live.trial, "failed", trial_id=trial_id, error=reason, **fields)
            self._requeue(live.waiting)
        self._tick()

    def _requeue(self, trials) -> None:
        """Samples that waited on a trial that did not complete: close them, propose again."""
        for t in trials:
            self.study.tell(t, state=TrialState.FAIL)
            self.study.enqueue_trial(t.params, user_attrs={"requeued_from": t.number})

    def _interrupt(self, executor) -> None:
        if executor is not None:
            executor.close()
        for live in self._live.values():
            self._record(live.trial, "interrupted", trial_id=live.trial_id, error="interrupted before it finished")
            for t in live.waiting:
                self.study.tell(t, state=TrialState.FAIL, skip_if_finished=True)
            for t in live.waiting:
                self.study.enqueue_trial(t.params, user_attrs={"requeued_from": t.number})
            self.study.enqueue_trial(live.trial.params, user_attrs={"requeued_from": live.trial.number})
        self._live.clear()
        self.store.set_search_status(self.config.name, "interrupted")

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
        self._update_bar()

    def _tick(self) -> None:
        self._stats = None
        if self._bar is not None:
            self._bar.update(1)

    def _update_bar(self) -> None:
        if self._bar is None:
            return
        if self._stats is None:  # refreshed only after a trial's outcome, not on every poll
            self._stats = (self._counts(), self._best())
        counts, best = self._stats
        post = {
            "running": len(self._live),
            "pruned": counts.get("pruned", 0),
            "failed": counts.get("failed", 0),
            "dup": counts.get("duplicate", 0),
            "infeasible": counts.get("infeasible", 0),
            "best": f"{best['val_accuracy']:.4f}" if best else "-",
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


def run_search(config: SearchConfig, *, progress: bool = False, executor=None, data=None) -> SearchSummary:
    """Run (or resume) the search `config.name`; the Python face of `nas search`."""
    return Search(config, executor=executor, data=data, progress=progress).run()


def search(**options) -> SearchSummary:
    """`run_search(SearchConfig(**options))`, e.g. ``nas.search(name="s1", trials=8)``."""
    progress = options.pop("progress", False)
    return run_search(SearchConfig(**options), progress=progress)


@contextmanager
def _sigterm_as_interrupt():
    """Treat SIGTERM like Ctrl-C so a stopped job records its in-flight trials."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
