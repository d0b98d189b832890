"""TPE with a constant liar that reads the study once per trial, not once per parameter group.

Optuna's `TPESampler(constant_liar=True)` bypasses the study's per-trial cache of trials in
`_sample` (so that it sees trials other *processes* started meanwhile) and reads every trial from
the storage again for each group of parameters (`group=True`) or each parameter. On an RDB
storage that is dozens of full reads per trial: on the real skipdag space it was most of what
sampling cost (docs/benchmarks.md, "Sampler cost"). A search has one asking process (its driver
claims the search), so the cache Optuna fills at the first read after `ask` already holds every
trial in flight: this sampler reads through it. Its proposals are the stock sampler's
(tests/search/test_tpe_one_asker.py checks them proposal for proposal).

The constant liar also stores each trial's relative parameters as system attributes (a JSON copy
of the sampled groups, several KB a trial), which TPE reads for *running* trials only. Once a
trial is told, this sampler deletes them (`after_trial`, inside the same `tell`; on the search's
storage, `db.optuna_storage`: emptied elsewhere), so they do not stay in the database for good.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

#: The system attributes in which TPE's constant liar keeps a running trial's relative parameters
#: (optuna.samplers._tpe.sampler._RELATIVE_PARAMS_KEY, chunked as "KEY:0", "KEY:1", ...).
RELATIVE_PARAMS_PREFIX = "tpe:relative_params:"


class _CachedReads:
    """The study as TPE's `_sample` sees it: every read of trials goes through the per-ask cache."""

    def __init__(self, study: optuna.Study) -> None:
        self._study = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None, use_cache: bool = False
    ) -> list[FrozenTrial]:
        return self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=True)


class OneAskerTPESampler(optuna.samplers.TPESampler):
    """`TPESampler` for a study with one asking process: the constant liar reads the trials in
    flight from the per-ask cache (see the module docstring)."""

    def _sample(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return super()._sample(_CachedReads(study), trial, search_space)  # type: ignore[arg-type]

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        super().after_trial(study, trial, state, values)
        if not any(key.startswith(RELATIVE_PARAMS_PREFIX) for key in trial.system_attrs):
            return
        # still running here (tell stores the state right after): drop the liar's copy of the params;
        # the search's storage deletes the rows (db.optuna_storage), any other one empties them
        storage = getattr(study._storage, "_backend", study._storage)  # under Optuna's _CachedStorage
        delete = getattr(storage, "delete_trial_system_attrs", None)
        if delete is not None:
            delete(trial._trial_id, RELATIVE_PARAMS_PREFIX)
            return
        for key in trial.system_attrs:
            if key.startswith(RELATIVE_PARAMS_PREFIX):
                study._storage.set_trial_system_attr(trial._trial_id, key, "")
