"""`--sampler tpe` reads the study once per trial and proposes exactly what stock TPE proposes.

The speed is measured by bench/sampler_cost.py (docs/benchmarks.md); here: same proposals as
`optuna.samplers.TPESampler` with the same settings and seed, on the real skipdag space with two
trials in flight (the constant liar at work), and far fewer reads of the storage.
"""

from __future__ import annotations

import warnings

import optuna
import pytest

import search_spaces
from nas.search._tpe import RELATIVE_PARAMS_PREFIX, OneAskerTPESampler
from nas.search.strategy import TPE_DEFAULTS, make_sampler

TRIALS = 24  # past the 10 random start-up trials


class CountingStorage(optuna.storages.InMemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get_all_trials(self, *a, **kw):
        self.reads += 1
        return super().get_all_trials(*a, **kw)


def _run(sampler) -> tuple[list[dict], int]:
    space = search_spaces.get("skipdag")
    storage = CountingStorage()
    study = optuna.create_study(storage=storage, direction="maximize", sampler=sampler)
    proposals, open_ = [], []
    for _ in range(TRIALS):
        trial = study.ask()
        space.sample(trial)
        proposals.append(dict(trial.params))
        open_.append(trial)
        if len(open_) == 2:  # two in flight, as with two workers: the liar has a running trial
            done = open_.pop(0)
            study.tell(done, (hash(tuple(sorted(done.params.items()))) % 1000) / 1000)
    return proposals, storage.reads


@pytest.fixture(scope="module", autouse=True)
def _quiet():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def test_the_default_is_the_one_asker_sampler():
    sampler = make_sampler("tpe", seed=0)
    assert isinstance(sampler, OneAskerTPESampler)
    assert "_sample" in vars(optuna.samplers.TPESampler)  # the method it reads through is still there


def test_same_proposals_as_stock_tpe_with_far_fewer_reads():
    ours, our_reads = _run(OneAskerTPESampler(seed=3, **TPE_DEFAULTS))
    stock, stock_reads = _run(optuna.samplers.TPESampler(seed=3, **TPE_DEFAULTS))
    assert ours == stock
    assert our_reads * 4 < stock_reads, (our_reads, stock_reads)


def test_the_liars_copy_of_the_params_is_emptied_once_a_trial_is_told():
    from optuna.samplers._tpe.sampler import _RELATIVE_PARAMS_KEY

    assert RELATIVE_PARAMS_PREFIX == _RELATIVE_PARAMS_KEY + ":"
    space = search_spaces.get("skipdag")
    study = optuna.create_study(direction="maximize", sampler=OneAskerTPESampler(seed=0, **TPE_DEFAULTS))
    for i in range(14):
        trial = study.ask()
        space.sample(trial)
        study.tell(trial, i / 14)
    liar = [t.system_attrs for t in study.trials if any(k.startswith(RELATIVE_PARAMS_PREFIX) for k in t.system_attrs)]
    assert liar, "past the start-up trials, TPE samples relatively and the liar keeps a copy"
    assert all(v == "" for attrs in liar for k, v in attrs.items() if k.startswith(RELATIVE_PARAMS_PREFIX))


def test_on_the_search_storage_the_liars_copy_is_deleted_with_the_tell(tmp_path):
    import sqlalchemy as sa

    import db

    store = db.connect(f"sqlite:///{tmp_path}/s.db")
    study = optuna.create_study(
        storage=db.optuna_storage(store), direction="maximize", sampler=OneAskerTPESampler(seed=0, **TPE_DEFAULTS)
    )
    space = search_spaces.get("skipdag")
    running = None
    for i in range(14):
        trial = study.ask()
        with store.transaction():
            space.sample(trial)
        if running is not None:
            with store.transaction():  # as the driver records a trial
                study.tell(running, i / 14)
        running = trial
    query = sa.text("SELECT trial_id FROM trial_system_attributes WHERE key LIKE 'tpe:relative_params:%'")
    with store.engine.connect() as c:
        left = {row[0] for row in c.execute(query)}
    assert left == {running._trial_id}  # only the trial still running keeps its copy
