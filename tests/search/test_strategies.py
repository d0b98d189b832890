"""Every sampler and pruner named by the CLI runs a real (tiny) search; multi-objective works."""

from __future__ import annotations

import optuna
import pytest

import db
from nas.search.config import PRUNERS, SAMPLERS, SearchConfig
from nas.search.driver import run_search


def tiny(tmp_path, **kw) -> SearchConfig:
    base = dict(
        name="t",
        db=f"sqlite:///{tmp_path}/nas.db",
        dataset="synthetic",
        subset=300,
        trials=3,
        executor="local",
        train={"epochs": 1, "batch_size": 64},
        space_options={"widths": [[8], [16]], "depth": [1, 2]},
    )
    base.update(kw)
    return SearchConfig(**base)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_runs_a_search(tmp_path, sampler):
    run_search(tiny(tmp_path, sampler=sampler))
    trials = db.connect(tiny(tmp_path).db).trials("t")
    assert len(trials) == 3
    assert all(t.state in ("complete", "duplicate") for t in trials)


@pytest.mark.parametrize("pruner", PRUNERS)
def test_every_pruner_runs_a_search(tmp_path, pruner):
    run_search(tiny(tmp_path, pruner=pruner, train={"epochs": 2, "batch_size": 64}))
    assert len(db.connect(tiny(tmp_path).db).trials("t")) == 3


def test_multi_objective_search_tells_accuracy_and_params(tmp_path):
    cfg = tiny(
        tmp_path,
        sampler="nsga2",
        objectives=("val_accuracy", "params"),
        trials=4,
        space_options={"widths": [[8, 16], [16, 32]], "depth": [1, 2]},
    )
    run_search(cfg)
    store = db.connect(cfg.db)
    study = optuna.load_study(study_name="nas:t", storage=store.url)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    for frozen in study.trials:
        record = store.get_trial("t", frozen.number)
        assert frozen.values == [record.val_accuracy, float(record.params)]
    assert study.best_trials  # a Pareto front exists


def test_single_objective_samplers_refuse_two_objectives(tmp_path):
    from nas.search.config import ConfigError

    with pytest.raises(ConfigError, match="cmaes supports one objective"):
        run_search(tiny(tmp_path, sampler="cmaes", objectives=("val_accuracy", "params")))
