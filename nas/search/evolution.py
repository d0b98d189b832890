"""Regularised evolution (Real et al. 2019, "aging evolution") as an Optuna sampler.

The population is the `population` most recent finished trials (the oldest leave it: aging).
A new trial copies the parameters of a tournament winner — the best of `sample_size` trials
drawn at random from the population, by the study's first objective — and changes one of its
choices, drawn at random, to another value. Until the population is full, trials are random.

The sampler works on whatever parameters a space asks for, in any order, conditional ones
included: a parameter the parent did not have, or had with another distribution, is drawn at
random. It keeps its per-trial plan (parent, mutated parameter) in memory, so several trials in
flight each follow their own parent.

    >>> sampler = RegularizedEvolutionSampler(population=20, sample_size=5, seed=0)
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState


class RegularizedEvolutionSampler(BaseSampler):
    """Aging evolution: tournament selection over the newest `population` trials, one mutation."""

    def __init__(self, population: int = 20, sample_size: int = 5, seed: int | None = None) -> None:
        if not 1 <= sample_size <= population:
            raise ValueError(f"sample_size {sample_size} must be from 1 to population ({population})")
        self.population = population
        self.sample_size = sample_size
        self._rng = random.Random(seed)
        self._random = RandomSampler(seed=seed)
        self._plans: dict[int, tuple[FrozenTrial | None, str | None]] = {}

    def reseed_rng(self) -> None:
        self._rng.seed()
        self._random.reseed_rng()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def _plan(self, study: Study, trial: FrozenTrial) -> tuple[FrozenTrial | None, str | None]:
        plan = self._plans.get(trial.number)
        if plan is None:
            plan = self._choose(study)
            self._plans[trial.number] = plan
        return plan

    def _choose(self, study: Study) -> tuple[FrozenTrial | None, str | None]:
        done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.params]
        if len(done) < self.population:
            return None, None
        population = sorted(done, key=lambda t: t.number)[-self.population :]
        contestants = self._rng.sample(population, self.sample_size)
        maximize = study.directions[0] == StudyDirection.MAXIMIZE
        values = [t.values[0] for t in contestants]
        best = max(values) if maximize else min(values)
        parent = contestants[values.index(best)]
        mutable = [k for k, d in parent.distributions.items() if _has_choice(d)]
        return parent, (self._rng.choice(sorted(mutable)) if mutable else None)

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        parent, mutated = self._plan(study, trial)
        if parent is None or parent.distributions.get(param_name) != param_distribution:
            return self._random.sample_independent(study, trial, param_name, param_distribution)
        value = parent.params[param_name]
        if param_name != mutated:
            return value
        return _other(
            self._rng, param_distribution, value, lambda: self._draw(study, trial, param_name, param_distribution)
        )

    def _draw(self, study: Study, trial: FrozenTrial, name: str, dist: BaseDistribution) -> Any:
        return self._random.sample_independent(study, trial, name, dist)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self._plans.pop(trial.number, None)


def _has_choice(dist: BaseDistribution) -> bool:
    """Whether the distribution offers more than one value."""
    if isinstance(dist, CategoricalDistribution):
        return len(dist.choices) > 1
    low, high = getattr(dist, "low", None), getattr(dist, "high", None)
    return low is None or low != high


def _other(rng: random.Random, dist: BaseDistribution, value: Any, draw: Any) -> Any:
    """A value of `dist` other than `value` (a categorical: another choice; else a fresh draw)."""
    if isinstance(dist, CategoricalDistribution):
        others = [c for c in dist.choices if c != value]
        return rng.choice(others) if others else value
    for _ in range(8):
        new = draw()
        if new != value:
            return new
    return value


__all__ = ["RegularizedEvolutionSampler"]
