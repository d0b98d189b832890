"""--prescreen K: K candidates scored by a zero-cost proxy per trained trial, the rest recorded screened."""

from __future__ import annotations

import optuna
import pytest

import db
from nas.search.config import ConfigError, SearchConfig
from nas.search.driver import run_search


def config(tmp_path, **kw) -> SearchConfig:
    base = dict(
        name="p",
        db=f"sqlite:///{tmp_path}/nas.db",
        dataset="synthetic",
        subset=300,
        trials=3,
        executor="local",
        train={"epochs": 1, "batch_size": 64},
        space_options={"widths": [[8], [16]], "depth": [1, 2]},
        prescreen=3,
    )
    base.update(kw)
    return SearchConfig(**base)


def test_prescreen_trains_the_best_of_k_and_records_the_rest(tmp_path):
    c = config(tmp_path)
    run_search(c)
    store = db.connect(c.db)
    trials = store.trials("p")
    trained = [t for t in trials if t.state in ("complete", "duplicate")]
    screened = [t for t in trials if t.state == "screened"]
    assert len(trained) == 3  # --trials counts trained (or reused) architectures
    assert len(screened) == 6  # two candidates beaten per trained trial
    assert all(t.error.startswith("screened out: naswot") for t in screened)
    study = optuna.load_study(study_name="nas:p", storage=c.db)
    by_number = {t.number: t for t in study.trials}
    for t in screened:  # Optuna sees them as pruned, with their score
        assert by_number[t.optuna_number].state == optuna.trial.TrialState.PRUNED
        assert "naswot" in by_number[t.optuna_number].user_attrs
    for t in trained:  # each trained trial beat the two screened right after it was asked
        mine = by_number[t.optuna_number].user_attrs["naswot"]
        rivals = [
            by_number[s.optuna_number].user_attrs["naswot"]
            for s in screened
            if 0 < s.optuna_number - t.optuna_number < 3
        ]
        assert all(mine >= r for r in rivals)


@pytest.mark.parametrize("k", [1, 65])
def test_prescreen_out_of_range_is_refused(tmp_path, k):
    with pytest.raises(ConfigError, match=f"--prescreen {k}"):
        config(tmp_path, prescreen=k)


def test_unknown_proxy_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="--proxy"):
        config(tmp_path, proxy="snip")
