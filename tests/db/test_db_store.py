"""Contract suite for `db.Store`, run against every backend in conftest.BACKENDS."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import statistics

import pytest
import sqlalchemy as sa

import db

KEY = "cfg-3ep"  # a train_config_key


def _complete(store, search, number, arch, *, val, key=KEY, **kw) -> int:
    trial_id = store.start_trial(search, number, arch.hash, key, worker="w0", device="cpu")
    store.finish_trial(trial_id, "complete", val_accuracy=val, **kw)
    return trial_id


# --- searches ----------------------------------------------------------------------------------


def test_create_and_get_search(store, new_search):
    made = new_search("alpha")
    assert made.name == "alpha" and made.status == "running"
    assert made.space_options == {"stages": 3, "nodes": [2, 4]}
    assert made.objectives == ("val_accuracy:maximize",)
    assert made.optuna_study_name == "nas-alpha"
    assert made.created_at.tzinfo is dt.UTC

    # Same name again: the stored row comes back unchanged; the caller compares configs.
    again = new_search("alpha", config={"different": True}, dataset="cifar10")
    assert again == made
    assert store.get_search("alpha") == made
    assert store.get_search("nope") is None


def test_records_are_frozen_dataclasses(store, new_search):
    made = new_search()
    assert type(made).__module__ == "db._records"
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.status = "finished"  # type: ignore[misc]


def test_search_status(store, new_search):
    new_search("alpha")
    store.set_search_status("alpha", "finished")
    assert store.get_search("alpha").status == "finished"
    with pytest.raises(ValueError, match="'done'.*running, finished, interrupted, failed"):
        store.set_search_status("alpha", "done")
    with pytest.raises(db.NotFoundError, match="'ghost'"):
        store.set_search_status("ghost", "finished")


def test_search_validation(store, new_search):
    with pytest.raises(ValueError, match="non-empty"):
        new_search("")
    with pytest.raises(ValueError, match="JSON-serialisable"):
        new_search("x", config={"bad": object()})
    assert store.get_search("x") is None


# --- architectures -----------------------------------------------------------------------------


def test_upsert_architecture_is_idempotent(store):
    h = "ab" * 32
    first = store.upsert_architecture(h, '{"a": 1}', 1234, 5678, {"conv": 2, "skip_add": 1})
    second = store.upsert_architecture(h, '{"a": 1}', 1234, 5678, {"conv": 2, "skip_add": 1})
    assert first == second
    assert first.summary == {"conv": 2, "skip_add": 1}
    assert store.get_architecture(h) == first


def test_large_params_and_flops_fit(store):
    arch = store.upsert_architecture("cd" * 32, "{}", 3_000_000_000, 40 * 10**9, {})
    assert store.get_architecture(arch.hash).flops == 40 * 10**9


def test_get_architecture_by_prefix(store):
    a = store.upsert_architecture("abc1" + "0" * 60, "{}", 1, 1, {})
    b = store.upsert_architecture("abc2" + "0" * 60, "{}", 2, 2, {})
    assert store.get_architecture("abc1") == a
    assert store.get_architecture("abc2"[:4]) == b
    assert store.get_architecture("fff") is None
    assert store.get_architecture("ab%") is None  # LIKE wildcards are literal
    with pytest.raises(db.AmbiguousHashError) as info:
        store.get_architecture("abc")
    assert set(info.value.candidates) == {a.hash, b.hash}
    assert a.hash in str(info.value) and b.hash in str(info.value)


# --- trials and epochs -------------------------------------------------------------------------


def test_start_and_finish_trial(store, new_search, new_arch):
    new_search("s1")
    arch = new_arch(params=4321, flops=98765)
    trial_id = store.start_trial("s1", 0, arch.hash, KEY, worker="w1", device="cuda:0")
    running = store.get_trial("s1", 0)
    assert running.id == trial_id and running.state == "running"
    assert running.finished_at is None and running.worker == "w1" and running.device == "cuda:0"

    done = store.finish_trial(
        trial_id,
        "complete",
        val_accuracy=0.91,
        val_loss=0.3,
        best_val_accuracy=0.92,
        epochs_run=3,
        train_seconds=12.5,
        images_per_second=8000.0,
    )
    assert done == store.get_trial("s1", 0) == store.get_trial_by_id(trial_id)
    assert (done.state, done.val_accuracy, done.best_val_accuracy) == ("complete", 0.91, 0.92)
    assert (done.params, done.flops, done.arch_hash) == (4321, 98765, arch.hash)
    assert done.finished_at >= done.started_at
    assert done.train_seconds == 12.5 and done.epochs_run == 3 and done.test_seeds == 0


def test_trial_errors(store, new_search, new_arch):
    new_search("s1")
    arch = new_arch()
    trial_id = store.start_trial("s1", 0, arch.hash, KEY)
    with pytest.raises(ValueError, match="trial 0 of search 's1' is already recorded"):
        store.start_trial("s1", 0, arch.hash, KEY)
    with pytest.raises(db.NotFoundError, match="upsert_architecture"):
        store.start_trial("s1", 1, "f" * 64, KEY)
    with pytest.raises(db.NotFoundError, match="no search named 'zzz'"):
        store.start_trial("zzz", 1, arch.hash, KEY)
    with pytest.raises(ValueError, match="unknown final trial state 'running'"):
        store.finish_trial(trial_id, "running")
    with pytest.raises(db.NotFoundError, match="no trial with id 999"):
        store.finish_trial(999, "complete")
    with pytest.raises(ValueError, match="needs duplicate_of"):
        store.record_trial("s1", 1, arch.hash, KEY, "duplicate")
    assert store.count_trials("s1") == 1  # the failed calls left nothing behind


def test_failed_and_infeasible_trials(store, new_search, new_arch):
    new_search("s1")
    arch = new_arch()
    trial_id = store.start_trial("s1", 0, arch.hash, KEY)
    store.finish_trial(trial_id, "failed", error="CUDA out of memory")
    store.record_trial("s1", 1, arch.hash, KEY, "infeasible", error="params 9e6 > limit 5e6")
    store.record_trial("s1", 2, None, KEY, "infeasible", error="sampling produced no graph")
    failed, infeasible, no_arch = store.trials("s1")
    assert (failed.state, failed.error) == ("failed", "CUDA out of memory")
    assert infeasible.state == "infeasible" and infeasible.finished_at is not None
    assert no_arch.arch_hash is None and no_arch.params is None


def test_nan_metrics_are_stored_as_null(store, new_search, new_arch):
    new_search("s1")
    trial_id = store.start_trial("s1", 0, new_arch().hash, KEY)
    store.add_epoch(trial_id, {"epoch": 0, "train_loss": float("nan"), "val_accuracy": 0.1})
    store.finish_trial(trial_id, "failed", val_loss=math.nan, error="loss diverged")
    assert store.epochs(trial_id)[0].train_loss is None
    assert store.get_trial_by_id(trial_id).val_loss is None


def test_epochs_are_idempotent(store, new_search, new_arch):
    new_search("s1")
    trial_id = store.start_trial("s1", 0, new_arch().hash, KEY)
    store.add_epoch(trial_id, {"epoch": 0, "train_loss": 2.0, "val_accuracy": 0.5, "lr": 0.1})
    store.add_epoch(trial_id, {"epoch": 0, "train_loss": 1.9, "val_accuracy": 0.55, "lr": 0.1})
    store.add_epoch(trial_id, {"epoch": 1, "train_loss": 1.2, "val_accuracy": 0.7, "seconds": 3})
    epochs = store.epochs(trial_id)
    assert [(e.epoch, e.train_loss, e.val_accuracy) for e in epochs] == [
        (0, 1.9, 0.55),
        (1, 1.2, 0.7),
    ]
    assert epochs[1].seconds == 3.0 and epochs[1].lr is None

    # Unset epochs_run / best_val_accuracy default to what the epochs say.
    done = store.finish_trial(trial_id, "complete", val_accuracy=0.69)
    assert (done.epochs_run, done.best_val_accuracy) == (2, 0.7)


def test_epoch_validation(store, new_search, new_arch):
    new_search("s1")
    trial_id = store.start_trial("s1", 0, new_arch().hash, KEY)
    with pytest.raises(ValueError, match="unknown epoch metric.*val_acc.*valid: epoch"):
        store.add_epoch(trial_id, {"epoch": 0, "val_acc": 0.5})
    with pytest.raises(ValueError, match="'epoch'"):
        store.add_epoch(trial_id, {"val_accuracy": 0.5})
    with pytest.raises(db.NotFoundError):
        store.add_epoch(trial_id + 100, {"epoch": 0})
    assert store.epochs(trial_id) == []


def test_trial_queries(store, new_search, new_arch):
    new_search("s1")
    new_search("s2")
    arch = new_arch()
    _complete(store, "s1", 0, arch, val=0.5)
    store.start_trial("s1", 1, arch.hash, KEY)
    store.record_trial("s1", 2, arch.hash, KEY, "infeasible", error="too big")
    _complete(store, "s1", 3, arch, val=0.6)
    _complete(store, "s2", 0, arch, val=0.7)

    assert store.completed_numbers("s1") == {0, 3}
    assert store.completed_numbers("none") == set()
    assert store.count_trials("s1") == 4
    assert store.count_trials("s1", states=("complete", "running")) == 3
    assert store.count_trials("s1", states="infeasible") == 1
    assert [t.optuna_number for t in store.trials("s1")] == [0, 1, 2, 3]
    assert [(t.search_name, t.optuna_number) for t in store.trials(states=["complete"])] == [
        ("s1", 0),
        ("s1", 3),
        ("s2", 0),
    ]
    assert store.get_trial("s1", 99) is None
    with pytest.raises(ValueError, match="unknown trial state 'done'"):
        store.trials("s1", states=["done"])


# --- dedupe ------------------------------------------------------------------------------------


def test_find_completed_across_searches_same_key_only(store, new_search, new_arch):
    new_search("a")
    new_search("b")
    arch, other = new_arch(), new_arch()
    assert store.find_completed(arch.hash, KEY) is None

    _complete(store, "a", 0, arch, val=0.70)
    best_id = _complete(store, "a", 1, arch, val=0.80)
    _complete(store, "b", 0, arch, val=0.75)
    _complete(store, "a", 2, other, val=0.99)
    pruned = store.start_trial("b", 1, arch.hash, KEY)
    store.finish_trial(pruned, "pruned", val_accuracy=0.95)  # pruned results are partial
    _complete(store, "b", 2, arch, val=0.97, key="cfg-50ep")  # another training config

    found = store.find_completed(arch.hash, KEY)
    assert (found.id, found.search_name, found.val_accuracy) == (best_id, "a", 0.80)
    assert store.find_completed(arch.hash, "cfg-50ep").val_accuracy == 0.97
    assert store.find_completed(arch.hash, "cfg-unknown") is None
    assert store.find_completed("0" * 63 + "f", KEY) is None


def test_duplicate_reuses_original_result(store, new_search, new_arch):
    new_search("a")
    new_search("b")
    arch = new_arch()
    original = _complete(store, "a", 0, arch, val=0.8, best_val_accuracy=0.82, epochs_run=3)
    found = store.find_completed(arch.hash, KEY)
    dup_id = store.record_trial("b", 0, arch.hash, KEY, "duplicate", duplicate_of=found.id)
    dup = store.get_trial_by_id(dup_id)
    assert dup.state == "duplicate" and dup.duplicate_of == original
    assert (dup.val_accuracy, dup.best_val_accuracy, dup.epochs_run) == (0.8, 0.82, 3)
    assert dup.train_seconds is None  # it cost nothing


# --- interruption ------------------------------------------------------------------------------


def test_mark_interrupted(store, new_search, new_arch):
    new_search("s1")
    new_search("s2")
    arch = new_arch()
    store.start_trial("s1", 0, arch.hash, KEY)
    _complete(store, "s1", 1, arch, val=0.5)
    store.start_trial("s1", 2, arch.hash, KEY)
    store.start_trial("s2", 0, arch.hash, KEY)

    assert store.mark_interrupted("s1") == [0, 2]
    states = {t.optuna_number: t.state for t in store.trials("s1")}
    assert states == {0: "interrupted", 1: "complete", 2: "interrupted"}
    assert store.get_trial("s1", 0).finished_at is not None
    assert "driver stopped" in store.get_trial("s1", 0).error
    assert store.get_trial("s2", 0).state == "running"  # other searches untouched
    assert store.mark_interrupted("s1") == []


# --- artifacts ---------------------------------------------------------------------------------


def test_artifact_round_trip(store, new_search, new_arch):
    new_search("s1")
    trial_id = _complete(store, "s1", 0, new_arch(), val=0.5)
    payload = bytes(range(256)) * 1000
    info = store.add_artifact(trial_id, "weights", payload, meta={"dtype": "float32"})
    assert info.size == len(payload) and len(info.sha256) == 64
    assert store.get_artifact(trial_id, "weights") == payload
    assert store.get_artifact(trial_id, "final_weights") is None

    store.add_artifact(trial_id, "weights", b"newer")  # same kind: replaced
    store.add_artifact(trial_id, "final_weights", b"final", format="pt")
    assert store.get_artifact(trial_id, "weights") == b"newer"
    listed = store.artifacts(trial_id)
    assert [(a.kind, a.format, a.size) for a in listed] == [
        ("final_weights", "pt", 5),
        ("weights", "safetensors", 5),
    ]
    with pytest.raises(ValueError, match="bytes"):
        store.add_artifact(trial_id, "weights", "not bytes")  # type: ignore[arg-type]


def test_artifact_corruption_is_detected(store, raw_engine, new_search, new_arch):
    new_search("s1")
    trial_id = _complete(store, "s1", 0, new_arch(), val=0.5)
    store.add_artifact(trial_id, "weights", b"\x00" * 64)
    with raw_engine.begin() as conn:
        conn.execute(sa.text("UPDATE nas_artifacts SET data = :d"), {"d": b"\x01" * 64})
    with pytest.raises(db.DatabaseError, match="corrupted.*sha256"):
        store.get_artifact(trial_id, "weights")


# --- final evaluations -------------------------------------------------------------------------


def test_evaluations_aggregate_into_trials(store, new_search, new_arch):
    new_search("a")
    new_search("b")
    arch, other = new_arch(), new_arch()
    t_a = _complete(store, "a", 0, arch, val=0.8)
    t_b = _complete(store, "b", 0, arch, val=0.8)
    t_other = _complete(store, "a", 1, other, val=0.7)

    accs = [0.90, 0.92, 0.97]
    for seed, acc in enumerate(accs):
        store.add_evaluation(arch.hash, "a", seed, acc, 0.3, 30, {"epochs": 30})
    trial = store.get_trial_by_id(t_a)
    assert trial.test_seeds == 3
    assert trial.test_accuracy_mean == pytest.approx(statistics.fmean(accs))
    assert trial.test_accuracy_std == pytest.approx(statistics.stdev(accs))
    assert store.get_trial_by_id(t_b).test_seeds == 0  # another search's evaluations
    assert store.get_trial_by_id(t_other).test_accuracy_mean is None

    # The same seed again replaces its run.
    store.add_evaluation(arch.hash, "a", 2, 0.94, 0.3, 30, {"epochs": 30})
    trial = store.get_trial_by_id(t_a)
    assert trial.test_seeds == 3
    assert trial.test_accuracy_mean == pytest.approx(statistics.fmean([0.90, 0.92, 0.94]))

    # A search-independent evaluation counts everywhere.
    store.add_evaluation(arch.hash, None, 7, 0.5, None, 30, {"epochs": 30})
    assert store.get_trial_by_id(t_a).test_seeds == 4
    single = store.get_trial_by_id(t_b)
    assert (single.test_seeds, single.test_accuracy_mean) == (1, 0.5)
    assert single.test_accuracy_std is None  # one seed: no spread

    evals = store.evaluations(arch.hash)
    assert [(e.search_name, e.seed) for e in evals] == [("a", 0), ("a", 1), ("a", 2), (None, 7)]
    assert evals[0].train_config == {"epochs": 30} and evals[0].arch_hash == arch.hash
    assert store.evaluations(other.hash) == []


# --- leaderboard -------------------------------------------------------------------------------


@pytest.fixture
def board(store, new_search, new_arch):
    """Search 'a' with five complete trials, one pruned, one failed, one duplicate; search 'b'
    with one complete trial and one duplicate of a trial in 'a'."""
    new_search("a")
    new_search("b")
    archs = {
        "big_best": new_arch(params=9000, flops=900),
        "small_good": new_arch(params=1000, flops=100),
        "mid_mid": new_arch(params=5000, flops=500),
        "mid_worse": new_arch(params=5000, flops=50),
        "tiny_bad": new_arch(params=500, flops=5000),
        "pruned": new_arch(params=100),
        "b_only": new_arch(params=2000, flops=200),
    }
    _complete(store, "a", 0, archs["big_best"], val=0.95, train_seconds=90.0)
    small = _complete(store, "a", 1, archs["small_good"], val=0.90, train_seconds=10.0)
    _complete(store, "a", 2, archs["mid_mid"], val=0.85, train_seconds=50.0)
    _complete(store, "a", 3, archs["mid_worse"], val=0.80, train_seconds=40.0)
    _complete(store, "a", 4, archs["tiny_bad"], val=0.50, train_seconds=5.0)
    pruned = store.start_trial("a", 5, archs["pruned"].hash, KEY)
    store.finish_trial(pruned, "pruned", val_accuracy=0.99)
    store.record_trial("a", 6, archs["mid_mid"].hash, KEY, "failed", error="boom")
    store.record_trial("a", 7, archs["small_good"].hash, KEY, "duplicate", duplicate_of=small)
    _complete(store, "b", 0, archs["b_only"], val=0.70, train_seconds=20.0)
    store.record_trial("b", 1, archs["small_good"].hash, KEY, "duplicate", duplicate_of=small)
    store.add_evaluation(archs["mid_mid"].hash, "a", 0, 0.88, None, 30, {})
    store.add_evaluation(archs["tiny_bad"].hash, "a", 0, 0.60, None, 30, {})
    store.add_evaluation(archs["tiny_bad"].hash, "a", 1, 0.62, None, 30, {})
    return archs


def test_leaderboard_sorts(store, board):
    rows = store.leaderboard("a")
    assert [r.trial for r in rows] == [0, 1, 2, 3, 4]  # val_accuracy descending
    assert [r.rank for r in rows] == [1, 2, 3, 4, 5]
    assert {r.state for r in rows} == {"complete"}
    first = rows[0]
    assert (first.search, first.hash, first.params, first.flops) == (
        "a",
        board["big_best"].hash,
        9000,
        900,
    )
    assert first.summary == board["big_best"].summary
    assert first.canonical_json == board["big_best"].canonical_json
    assert first.train_seconds == 90.0

    assert [r.trial for r in store.leaderboard("a", sort="params")] == [4, 1, 2, 3, 0]
    assert [r.trial for r in store.leaderboard("a", sort="flops")] == [3, 1, 2, 0, 4]
    assert [r.trial for r in store.leaderboard("a", sort="train_seconds")] == [4, 1, 3, 2, 0]
    by_test = store.leaderboard("a", sort="test_accuracy")
    assert [r.trial for r in by_test] == [2, 4, 0, 1, 3]  # evaluated first, missing last
    assert by_test[1].test_accuracy == pytest.approx(0.61) and by_test[1].test_seeds == 2
    assert by_test[1].test_std == pytest.approx(statistics.stdev([0.60, 0.62]))


def test_leaderboard_top_states_and_errors(store, board):
    assert [r.trial for r in store.leaderboard("a", top=2)] == [0, 1]
    with_pruned = store.leaderboard("a", states=("complete", "pruned"))
    assert [(r.trial, r.state) for r in with_pruned][0] == (5, "pruned")
    assert len(with_pruned) == 6
    with pytest.raises(ValueError) as info:
        store.leaderboard("a", sort="accuracy")
    message = str(info.value)
    assert "'accuracy'" in message
    assert all(k in message for k in ("val_accuracy", "test_accuracy", "params", "flops"))
    with pytest.raises(ValueError, match="top"):
        store.leaderboard("a", top=0)
    with pytest.raises(db.NotFoundError):
        store.leaderboard("nope")


def test_leaderboard_pareto(store, board):
    front = store.leaderboard("a", pareto=True)
    # tiny_bad (fewest params), small_good, big_best (most accurate); the mids are dominated.
    assert [r.trial for r in front] == [0, 1, 4]
    assert [r.rank for r in front] == [1, 2, 3]
    assert [r.trial for r in store.leaderboard("a", pareto=True, sort="params")] == [4, 1, 0]
    assert [r.trial for r in store.leaderboard("a", pareto=True, top=1)] == [0]


def test_leaderboard_duplicates_are_not_rows(store, board):
    # Search 'a': its duplicate (trial 7) repeats trial 1, which is already a row.
    assert 7 not in [r.trial for r in store.leaderboard("a")]
    # Search 'b': its duplicate reuses a result from 'a' and stands in for it.
    rows = store.leaderboard("b")
    assert [(r.trial, r.state, r.val_accuracy) for r in rows] == [
        (1, "duplicate", 0.90),
        (0, "complete", 0.70),
    ]
    assert rows[0].train_seconds == 10.0 and rows[0].hash == board["small_good"].hash
    # All searches: one row per trial that actually trained.
    everything = store.leaderboard()
    assert [(r.search, r.trial) for r in everything] == [
        ("a", 0),
        ("a", 1),
        ("a", 2),
        ("a", 3),
        ("b", 0),
        ("a", 4),
    ]


def test_list_searches_counts(store, board):
    store.set_search_status("b", "finished")
    a, b = store.list_searches()
    assert (a.name, a.space, a.dataset, a.status) == ("a", "skipdag", "fashion_mnist", "running")
    assert a.counts == {
        "running": 0,
        "complete": 5,
        "pruned": 1,
        "failed": 1,
        "duplicate": 1,
        "infeasible": 0,
        "interrupted": 0,
        "screened": 0,
    }
    assert a.n_trials == 8
    assert a.best_val_accuracy == 0.95  # pruned 0.99 does not count
    # the test number shown is the best-by-validation trial's (big_best, not evaluated), never
    # the highest test number (mid_mid's 0.88): that would choose on test
    assert a.best_test_accuracy is None
    store.add_evaluation(store.leaderboard("a")[0].hash, "a", 0, 0.81, None, 30, {})
    assert store.list_searches()[0].best_test_accuracy == pytest.approx(0.81)
    assert (b.status, b.counts["duplicate"], b.counts["complete"], b.n_trials) == (
        "finished",
        1,
        1,
        2,
    )
    assert b.best_val_accuracy == 0.90  # through its duplicate of a trial in 'a'
    assert b.best_test_accuracy is None


def test_list_searches_empty(store, new_search):
    assert store.list_searches() == []
    new_search("lonely")
    (only,) = store.list_searches()
    assert only.n_trials == 0 and only.best_val_accuracy is None
    assert set(only.counts) == set(db.TRIAL_STATES)


# --- errors from the driver --------------------------------------------------------------------


def test_driver_errors_become_one_line_database_errors(store, raw_engine, new_search):
    new_search("s1")
    with raw_engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE nas_epoch_metrics"))
    with pytest.raises(db.DatabaseError) as info:
        store.epochs(1)
    message = str(info.value)
    assert "\n" not in message
    assert store.display_url in message and "nas_epoch_metrics" in message
    # The failed session was rolled back; the store keeps working.
    assert store.get_search("s1").name == "s1"
