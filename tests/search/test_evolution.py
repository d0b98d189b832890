"""Regularised evolution: random until the population fills, then one mutation of a tournament winner."""

from __future__ import annotations

import optuna
import pytest

from nas.search.evolution import RegularizedEvolutionSampler

optuna.logging.set_verbosity(optuna.logging.WARNING)
NAMES = [f"x{i}" for i in range(6)]


def objective(trial: optuna.Trial) -> float:
    xs = [trial.suggest_categorical(n, [0, 1, 2, 3]) for n in NAMES]
    if xs[0] == 3:  # a conditional parameter: present only in part of the space
        xs.append(trial.suggest_int("extra", 0, 9))
    return float(sum(xs))


def test_children_differ_from_a_population_member_in_one_choice():
    sampler = RegularizedEvolutionSampler(population=10, sample_size=3, seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=60)
    trials = study.trials
    for child in trials[10:]:
        older = [t for t in trials[: child.number] if t.state.is_finished()][-10:]
        shared = [n for n in NAMES]
        diffs = [sum(p.params[n] != child.params[n] for n in shared) for p in older]
        assert min(diffs) <= 1, f"trial {child.number} is not one mutation of its population"


def test_evolution_beats_random_on_a_separable_objective():
    """Over 3 seeds at 80 trials, the best found by evolution beats random search's on average."""

    def best(sampler) -> float:
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(objective, n_trials=80)
        return study.best_value

    evo = sum(best(RegularizedEvolutionSampler(20, 5, seed=s)) for s in range(3))
    rnd = sum(best(optuna.samplers.RandomSampler(seed=s)) for s in range(3))
    assert evo >= rnd


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="sample_size 30"):
        RegularizedEvolutionSampler(population=20, sample_size=30)


def test_a_small_budget_gets_a_population_that_fills_early():
    """A 20-trial search would be random throughout with a population of 20: it gets 5, so 15
    of its trials are children (one mutation of a population member)."""
    from nas.search.strategy import EVOLUTION_POPULATION, EVOLUTION_SAMPLE, evolution_sizes, make_sampler

    assert evolution_sizes(20) == (5, 2) and evolution_sizes(40) == (10, 2) and evolution_sizes(8) == (5, 2)
    assert evolution_sizes(None) == evolution_sizes(80) == (EVOLUTION_POPULATION, EVOLUTION_SAMPLE)
    sampler = make_sampler("evolution", seed=0, trials=20)
    assert (sampler.population, sampler.sample_size) == (5, 2)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=20)
    for child in study.trials[5:]:
        older = [t for t in study.trials[: child.number] if t.state.is_finished()][-5:]
        assert min(sum(p.params[n] != child.params[n] for n in NAMES) for p in older) <= 1
