"""The after-checks of every fault test: what a search's database must hold after a fault and
a resume to the end.

`completed(url, name)` notes the completed trials before a fault; `assert_consistent` then checks
on the real database (read-only) and the real Optuna study:

- no completed trial lost: each one noted is still there, unchanged (state, result, finish
  time, epochs, weights);
- no architecture trained twice: per architecture and training protocol, at most one trial
  holds a finished training (complete or pruned, not a reuse), and no trial trained the
  architecture again after that one had finished;
- Optuna and the ``nas_`` rows agree trial by trial: every row's Optuna trial has the state
  its row's state maps to (and a completed one the same values, a duplicate the same
  original); every Optuna trial without a row is a sample that was never recorded, told FAIL
  and re-queued (WAITING ones are re-queued samples not yet asked); every 'interrupted' row
  was re-queued too; COMPLETE in Optuna is exactly 'complete' here;
- nothing left running: no trial row 'running', no Optuna trial RUNNING, the search not
  'running';
- with `trials`: the budget is spent exactly (trials that count towards it, `db.BUDGET_TRIAL_STATES`).
"""

from __future__ import annotations

import dataclasses

import optuna

import db

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: How each final state of a `nas_` row is told to Optuna (nas/search/driver.py `_OPTUNA_STATE`).
OPTUNA_STATE = {
    "complete": "COMPLETE",
    "duplicate": "FAIL",
    "pruned": "PRUNED",
    "infeasible": "PRUNED",
    "failed": "FAIL",
    "interrupted": "FAIL",
}


@dataclasses.dataclass(frozen=True)
class Kept:
    """What must survive of one completed trial."""

    number: int
    arch_hash: str | None
    val_accuracy: float | None
    finished_at: object
    epochs: int
    weights: bytes | None


def _reader(url: str) -> db.Store:
    return db.connect(url, read_only=True)


def completed(url: str, name: str) -> dict[int, Kept]:
    """The search's completed trials by id (empty when there is no database or search yet)."""
    try:
        store = _reader(url)
    except db.DatabaseError:
        return {}
    try:
        if store.get_search(name) is None:
            return {}
        return {
            t.id: Kept(
                t.optuna_number,
                t.arch_hash,
                t.val_accuracy,
                t.finished_at,
                len(store.epochs(t.id)),
                store.get_artifact(t.id, "weights"),
            )
            for t in store.trials(name, states="complete")
        }
    finally:
        store.close()


def assert_consistent(url: str, name: str, *, before: dict[int, Kept] | None = None, trials: int | None = None) -> dict:
    """Run every after-check (see the module docstring); return counts for the test's report."""
    store = _reader(url)
    try:
        return _check(store, url, name, before or {}, trials)
    finally:
        store.close()


def _check(store: db.Store, url: str, name: str, before: dict[int, Kept], trials: int | None) -> dict:
    search = store.get_search(name)
    assert search is not None, f"no search {name!r} in {url}"
    assert search.status != "running", f"search {name!r} left 'running'"
    rows = store.trials(name)
    assert [r.id for r in rows if r.state == "running"] == [], "trial rows left 'running'"

    # no completed trial lost
    for trial_id, kept in before.items():
        now = store.get_trial_by_id(trial_id)
        assert now is not None, f"completed trial {trial_id} (number {kept.number}) is gone"
        got = (now.optuna_number, now.state, now.arch_hash, now.val_accuracy, now.finished_at)
        assert got == (kept.number, "complete", kept.arch_hash, kept.val_accuracy, kept.finished_at), (kept, now)
        assert len(store.epochs(trial_id)) == kept.epochs, f"trial {trial_id}: epochs changed"
        assert store.get_artifact(trial_id, "weights") == kept.weights, f"trial {trial_id}: weights changed"

    # no architecture trained twice
    by_arch: dict[tuple, list] = {}
    for r in rows:
        trained = r.state in ("complete", "pruned") or bool(store.epochs(r.id))
        if r.arch_hash is not None and r.duplicate_of is None and trained:
            by_arch.setdefault((r.arch_hash, r.train_config_key), []).append(r)
    trainings = 0
    for (arch, _), trained in by_arch.items():
        finished = [r for r in trained if r.state in ("complete", "pruned")]
        assert len(finished) <= 1, f"architecture {arch[:12]} trained to the end {len(finished)} times: {finished}"
        trainings += len(trained)
        if finished:
            later = [r for r in trained if r.started_at > finished[0].finished_at]
            assert not later, f"architecture {arch[:12]} trained again after trial {finished[0].optuna_number}"

    # Optuna and the nas_ rows agree trial by trial
    study = optuna.load_study(study_name=search.optuna_study_name, storage=url)
    told = {t.number: t for t in study.get_trials(deepcopy=False)}
    numbers = {r.optuna_number for r in rows}
    assert len(numbers) == len(rows), "two rows for one Optuna trial"
    for r in rows:
        t = told.get(r.optuna_number)
        assert t is not None, f"trial {r.optuna_number} ({r.state}) is not in Optuna's study"
        assert t.state.name == OPTUNA_STATE[r.state], (r.optuna_number, r.state, t.state.name)
        if r.state == "complete":
            extra = {"params": r.params, "flops": r.flops}
            expected = [r.val_accuracy] + [float(extra[o]) for o in search.objectives[1:]]
            assert t.values == expected, (r.optuna_number, t.values, expected)
        if r.state == "duplicate":
            assert t.user_attrs.get("duplicate_of_trial_id") == r.duplicate_of, (r.optuna_number, t.user_attrs)
        if r.arch_hash is not None and "arch_hash" in t.user_attrs:
            assert t.user_attrs["arch_hash"] == r.arch_hash, r.optuna_number
    requeued = {t.user_attrs.get("requeued_from") for t in told.values()}
    for r in rows:  # an interrupted trial's architecture is proposed again, not dropped
        assert r.state != "interrupted" or r.optuna_number in requeued, f"trial {r.optuna_number} not re-queued"
    for number, t in told.items():
        assert t.state.name != "RUNNING", f"Optuna trial {number} left RUNNING"
        if number not in numbers:
            assert t.state.name in ("FAIL", "WAITING"), f"Optuna trial {number} is {t.state.name} with no nas_ row"
            if t.state.name == "FAIL":
                assert number in requeued, f"Optuna trial {number} was dropped: FAIL, no row, never re-queued"
    optuna_complete = sorted(n for n, t in told.items() if t.state.name == "COMPLETE")
    assert optuna_complete == sorted(r.optuna_number for r in rows if r.state == "complete")

    counted = [r for r in rows if r.state in db.BUDGET_TRIAL_STATES]
    if trials is not None:
        assert len(counted) == trials, f"{len(counted)} trials count towards a budget of {trials}"
    states: dict[str, int] = {}
    for r in rows:
        states[r.state] = states.get(r.state, 0) + 1
    return {"states": states, "optuna_trials": len(told), "trainings": trainings, "kept": len(before)}
