"""TPE with a constant liar that reads the study once per trial, not once per parameter group.

Optuna's `TPESampler(constant_liar=True)` bypasses the study's per-trial cache of trials in
`_sample` (so that it sees trials other *processes* started meanwhile) and reads every trial from
the storage again for each group of parameters (`group=True`) or each parameter. On an RDB
storage that is dozens of full reads per trial: on the real skipdag space it was most of what
sampling cost (docs/benchmarks.md, "Sampler cost"). A search has one asking process (its driver
claims the search), so the cache Optuna fills at the first read after `ask` already holds every
trial in flight: this sampler reads through it. Its proposals are the stock sampler's
(tests/search/test_sampler_cost.py checks them proposal for proposal).
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState


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
