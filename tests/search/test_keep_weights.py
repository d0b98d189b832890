"""`--save-weights top:K|all|none`: the K best trials by validation keep their weights.

A trial entering the top K stores its weights; the trial it pushes out loses its own in the
same transaction as the record. A trial without weights is retrained on demand by `nas export`.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from types import SimpleNamespace

import pytest

import db
from nas.final.evaluate import rank_by_validation
from nas.search.config import ConfigError, SearchConfig
from nas.search.driver import Search
from nas.search.keep import Decision, SaveWeightsError, WeightKeeper, parse_save_weights, rank_key
from tests.search.test_search import ROOT, TINY, config
from workers.executor import NullExecutor
from workers.records import TrialOutcome

WIDE = {"widths": [[8, 12, 16, 24], [16, 24, 32, 48]], "depth": [1, 3]}


# ---- the policy --------------------------------------------------------------------------------
def test_parse_save_weights():
    assert parse_save_weights("top:3") == 3 and parse_save_weights("TOP:12") == 12
    assert parse_save_weights("all") is None and parse_save_weights("none") == 0
    for bad in ("top:0", "top:", "top:-1", "some", "5"):
        with pytest.raises(SaveWeightsError, match="top:K"):
            parse_save_weights(bad)
    assert SearchConfig().save_weights == "top:5"  # the default
    with pytest.raises(ConfigError, match="--save-weights 'top:x'.*all, none"):
        SearchConfig(save_weights="top:x")


def test_keeper_stores_entrants_and_drops_who_falls_out():
    keeper = WeightKeeper(2)
    seen = []
    for tid, acc in [(1, 0.5), (2, 0.7), (3, 0.6), (4, 0.4), (5, 0.9)]:
        key = rank_key(acc, [], 100, tid)
        d = keeper.offer(tid, key)
        keeper.accept(tid, key, d)
        seen.append(d)
    assert seen == [Decision(True), Decision(True), Decision(True, (1,)), Decision(False), Decision(True, (3,))]
    assert keeper.held == {2, 5}
    assert WeightKeeper(None).offer(9, rank_key(0.1, [], 1, 9)) == Decision(True)
    assert WeightKeeper(0).offer(9, rank_key(0.9, [], 1, 9)) == Decision(False)


def test_offer_changes_nothing_until_accepted():
    keeper = WeightKeeper(1)
    key = rank_key(0.5, [], 1, 1)
    keeper.accept(1, key, keeper.offer(1, key))
    better = rank_key(0.9, [], 1, 2)
    assert keeper.offer(2, better) == Decision(True, (1,))
    assert keeper.held == {1} and keeper.offer(2, better) == Decision(True, (1,))  # not applied yet


def test_a_resumed_keeper_trims_what_an_all_run_left():
    ranked = [(rank_key(a, [], 1, n), n) for n, a in enumerate([0.3, 0.8, 0.5, 0.6])]
    keeper = WeightKeeper.load(2, ranked, held={0, 1, 2, 3})
    key = rank_key(0.7, [], 1, 9)
    assert keeper.offer(9, key) == Decision(True, (0, 2, 3))


@pytest.mark.parametrize("objectives", [("val_accuracy",), ("val_accuracy", "params"), ("val_accuracy", "flops")])
def test_rank_key_orders_as_the_final_commands_do(objectives):
    """Ties included: equal accuracy falls to the other objectives, then params, then number."""
    rows = [
        SimpleNamespace(val_accuracy=a, params=p, flops=f, search="s", trial=n)
        for n, (a, p, f) in enumerate(
            [(0.5, 10, 7), (0.7, 30, 1), (0.7, 20, 9), (0.7, 20, 2), (0.6, 5, 5), (0.5, 10, 3), (0.9, 99, 99)]
        )
    ]
    ranked = rank_by_validation(rows, objectives)
    ours = sorted(
        rows, key=lambda r: rank_key(r.val_accuracy, [getattr(r, o) for o in objectives[1:]], r.params, r.trial)
    )
    assert [r.trial for r in ours] == [r.trial for r in ranked]


# ---- in a search -------------------------------------------------------------------------------
class WithWeights(NullExecutor):
    """The null executor, returning stand-in weight bytes with every completed trial."""

    def __init__(self, slots: int = 2) -> None:
        super().__init__(slots)
        self.asked: list[bool] = []

    def submit(self, job) -> None:
        self.asked.append(job.save_weights)
        super().submit(job)

    def wait(self, on_epoch, on_done, timeout: float = 0.5) -> None:
        def done(trial_id, outcome):
            if outcome.status == "complete":
                outcome = dataclasses.replace(outcome, weights=f"weights of {trial_id}".encode())
            on_done(trial_id, outcome)

        super().wait(on_epoch, done, timeout)


@pytest.fixture(scope="module")
def tiny_data():
    from workers.datasets import load_dataset

    return load_dataset("synthetic", subset=200, val_fraction=0.2, seed=0)


def _top_ids(store, name: str, k: int) -> set[int]:
    rows = [r for r in store.leaderboard(name) if r.state == "complete"]
    return {store.get_trial(name, r.trial).id for r in rank_by_validation(rows)[:k]}


def test_a_search_keeps_exactly_its_top_k(tmp_path, tiny_data):
    cfg = config(tmp_path, trials=12, save_weights="top:3", space_options=WIDE)
    executor = WithWeights()
    Search(cfg, executor=executor, data=tiny_data).run()
    store = db.connect(cfg.db)
    completed = store.trials("s", states="complete")
    assert len(completed) > 3  # something fell out
    held = store.trials_with_artifact("s", "weights")
    assert held == _top_ids(store, "s", 3)
    assert all(store.get_artifact(i, "weights") == f"weights of {i}".encode() for i in held)
    assert all(executor.asked)  # any trial may enter the top K, so every worker sends its weights


def test_all_and_none(tmp_path, tiny_data):
    for mode, name in (("all", "a"), ("none", "n")):
        url = f"sqlite:///{tmp_path}/{name}.db"  # one database each: a shared one would dedupe across them
        cfg = config(tmp_path, name=name, db=url, trials=6, save_weights=mode, space_options=WIDE)
        executor = WithWeights()
        Search(cfg, executor=executor, data=tiny_data).run()
        store = db.connect(cfg.db)
        completed = {t.id for t in store.trials(name, states="complete")}
        assert store.trials_with_artifact(name, "weights") == (completed if mode == "all" else set())
        assert executor.asked and all(executor.asked) == (mode == "all") and any(executor.asked) == (mode == "all")


def test_dropping_weights_is_part_of_the_record_transaction(tmp_path, tiny_data, monkeypatch):
    """A failure while deleting the weights of the trial pushed out rolls the whole record back:
    the entrant is not complete, its weights are not stored, the old top K keeps its weights."""
    cfg = config(tmp_path, trials=12, save_weights="top:1", space_options=WIDE)
    store = db.connect(cfg.db)
    real = store.delete_artifacts
    seen: dict = {}

    def failing(ids, kind):
        real(ids, kind)  # deleted inside the transaction, then the record fails
        seen["held"] = set(ids)
        raise RuntimeError("disk gone")

    monkeypatch.setattr(store, "delete_artifacts", failing)
    with pytest.raises(RuntimeError, match="disk gone"):
        Search(cfg, store=store, executor=WithWeights(slots=1), data=tiny_data).run()
    monkeypatch.undo()
    assert store.trials_with_artifact("s", "weights") == seen["held"]  # still there
    (entrant,) = [t for t in store.trials("s") if t.state not in ("complete", "duplicate", "infeasible", "pruned")]
    assert entrant.state == "interrupted" and store.get_artifact(entrant.id, "weights") is None


def test_export_retrains_a_trial_without_weights_and_says_so(tmp_path):
    """A real tiny search keeping one trial's weights; `nas export` of another trial trains it
    with the final protocol and says why."""
    url = f"sqlite:///{tmp_path}/nas.db"
    search = [
        *("search", "--space", "skipdag", "--dataset", "synthetic", "--trials", "3", "--executor", "local"),
        *("--db", url, "--subset", "200", "--epochs", "1", "--batch-size", "64", "--save-weights", "top:1"),
        *("--space-option", "widths=[[8],[16]]", "--space-option", "depth=[1,2]", "--no-progress"),
    ]
    done = subprocess.run([sys.executable, "-m", "nas", *search], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    store = db.connect(url, read_only=True)
    held = store.trials_with_artifact("skipdag-synthetic", "weights")
    bare = [t for t in store.trials("skipdag-synthetic", states="complete") if t.id not in held]
    assert len(held) == 1 and bare, "expected a trial without weights"
    out = tmp_path / "exported"
    argv = ["export", "--db", url, "--trial", str(bare[0].optuna_number), "--out", str(out), "--epochs", "1"]
    done = subprocess.run([sys.executable, "-m", "nas", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "trained now with the final protocol" in done.stdout
    assert "no weights were stored for this trial" in done.stderr and "--save-weights" in done.stderr
    assert (out / "weights.safetensors").exists()
    _ = TINY, TrialOutcome  # the shared test configuration
