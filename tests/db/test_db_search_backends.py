"""A whole search, resumed once, on every database backend (SQLite; PostgreSQL under postgres-test.sh).

The store contract suite checks the Store API; this checks that the driver, Optuna's storage
in the same database, dedupe and resume work end to end on each backend.
"""

from __future__ import annotations

import optuna

import db
from nas.search.config import SearchConfig
from nas.search.driver import run_search


def test_search_runs_dedupes_and_resumes_on_this_backend(url):
    def cfg(trials):
        return SearchConfig(
            name="e2e",
            db=url,
            dataset="synthetic",
            subset=300,
            trials=trials,
            executor="local",
            sampler="random",
            pruner="none",
            train={"epochs": 1, "batch_size": 64},
            space_options={"widths": [[8]], "depth": [1, 2], "ops": ["conv3x3", "sepconv3x3"], "max_skips": 0},
        )

    run_search(cfg(3))
    run_search(cfg(6))  # resume: three more, the budget is the search's total
    store = db.connect(url)
    trials = store.trials("e2e")
    assert len(trials) == 6 and {t.optuna_number for t in trials} == set(range(6))
    assert {t.state for t in trials} <= {"complete", "duplicate"}
    # the tiny space has few networks: some were seen again and reused, never retrained
    trained = [t for t in trials if t.state == "complete"]
    assert len({t.arch_hash for t in trained}) == len(trained)
    assert all(store.epochs(t.id) for t in trained)
    study = optuna.load_study(study_name="nas:e2e", storage=store.url)
    # Optuna observed each training run once: repeats are FAIL, which samplers ignore
    told = {"complete": optuna.trial.TrialState.COMPLETE, "duplicate": optuna.trial.TrialState.FAIL}
    by_number = {t.optuna_number: t.state for t in trials}
    assert [t.state for t in study.trials] == [told[by_number[t.number]] for t in study.trials]
    assert store.get_search("e2e").status == "finished"
