"""One engine per database, and one transaction for a trial's `nas_` rows and Optuna's tell.

Runs on every backend (`url` fixture): a real Optuna study on the Store's own storage.
"""

from __future__ import annotations

import optuna
import pytest
import sqlalchemy as sa

import db


class Boom(Exception):
    pass


def _study(store: db.Store, name: str = "nas-s1") -> optuna.Study:
    return optuna.create_study(study_name=name, storage=db.optuna_storage(store), load_if_exists=True)


def _fresh_view(url: str, name: str = "nas-s1") -> optuna.Study:
    """The study as a separate process would see it: its own storage and engine."""
    return optuna.load_study(study_name=name, storage=optuna.storages.RDBStorage(url))


def _started(store, new_search, new_arch):
    new_search()
    arch = new_arch()
    study = _study(store)
    trial = study.ask()
    trial_id = store.start_trial("s1", trial.number, arch.hash, "k")
    return study, trial, trial_id


def test_one_engine_per_database(store, url):
    again = db.connect(url)
    assert again.engine is store.engine
    assert db.optuna_storage(store).engine is store.engine


def test_close_then_connect_gives_a_working_store(url, new_search):
    new_search()
    first = db.connect(url)
    first.close()
    second = db.connect(url)
    assert second.get_search("s1") is not None


def test_error_rolls_back_both_nas_rows_and_optuna(store, url, new_search, new_arch):
    study, trial, trial_id = _started(store, new_search, new_arch)
    with pytest.raises(Boom):
        with store.transaction():
            store.finish_trial(trial_id, "complete", val_accuracy=0.9)
            store.add_artifact(trial_id, "weights", b"w")
            study.tell(trial, 0.9)
            raise Boom
    assert store.get_trial_by_id(trial_id).state == "running"
    assert store.artifacts(trial_id) == []
    (seen,) = _fresh_view(url).get_trials(deepcopy=False)
    assert seen.state == optuna.trial.TrialState.RUNNING


def test_success_commits_both(store, url, new_search, new_arch):
    study, trial, trial_id = _started(store, new_search, new_arch)
    with store.transaction():
        store.finish_trial(trial_id, "complete", val_accuracy=0.9)
        study.tell(trial, 0.9)
        # nested blocks join the open transaction instead of committing early
        with store.transaction():
            store.add_artifact(trial_id, "weights", b"w")
    assert store.get_trial_by_id(trial_id).state == "complete"
    assert [a.kind for a in store.artifacts(trial_id)] == ["weights"]
    (seen,) = _fresh_view(url).get_trials(deepcopy=False)
    assert seen.state == optuna.trial.TrialState.COMPLETE and seen.value == pytest.approx(0.9)


def test_optuna_failure_rolls_back_nas_rows(store, new_search, new_arch):
    study, trial, trial_id = _started(store, new_search, new_arch)
    study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    with pytest.raises(ValueError, match="Cannot tell"):
        with store.transaction():
            store.finish_trial(trial_id, "complete", val_accuracy=0.9)
            study.tell(trial.number, 0.9)  # the trial is already finished: Optuna refuses
    assert store.get_trial_by_id(trial_id).state == "running"


def test_outside_a_transaction_each_call_commits(store, url, new_search, new_arch, raw_engine):
    study, trial, trial_id = _started(store, new_search, new_arch)
    store.finish_trial(trial_id, "failed", error="x")
    with raw_engine.connect() as c:
        assert c.scalar(sa.text("select state from nas_trials where id = :i"), {"i": trial_id}) == "failed"
