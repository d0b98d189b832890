"""Optuna samplers and pruners by name (the `--sampler` and `--pruner` options)."""

from __future__ import annotations

import warnings
from typing import Any

import optuna

from nas.search.config import PRUNERS, SAMPLERS, ConfigError

#: Regularised evolution's population (the newest finished trials) and tournament size; Real et
#: al. used 100 and 25 over 20k trials, scaled here to searches of tens to hundreds of trials.
EVOLUTION_POPULATION = 20
EVOLUTION_SAMPLE = 5


def evolution_sizes(trials: int | None) -> tuple[int, int]:
    """(population, tournament size) for a search of `trials` trials (None: no set budget).

    Until the population fills, evolution samples at random; a population of 20 in a 20-trial
    search would be random search throughout. So a smaller budget gets a population of a quarter
    of its trials (at least 5), and a tournament of a quarter of the population (at least 2).
    """
    if trials is None or trials >= 4 * EVOLUTION_POPULATION:
        return EVOLUTION_POPULATION, EVOLUTION_SAMPLE
    population = max(5, trials // 4)
    return population, max(2, population // 4)


def make_sampler(name: str, seed: int, n_objectives: int = 1, trials: int | None = None) -> optuna.samplers.BaseSampler:
    """The Optuna sampler for `name`, seeded; `trials` is the search's budget (evolution sizes its
    population by it: `evolution_sizes`).

    TPE runs multivariate and grouped (skipdag's parameters are conditional) with a constant
    liar so parallel trials are not proposed on top of each other. CMA-ES and QMC model the
    numeric decisions only and fall back to independent sampling for categorical ones.
    """
    if name in ("cmaes", "qmc") and n_objectives > 1:
        raise ConfigError(f"--sampler {name} supports one objective; use tpe, nsga2, gp or random")
    with warnings.catch_warnings():  # TPE's `group` and QMC are marked experimental; they are what we want
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _sampler(name, seed, trials)


#: `--sampler tpe`: multivariate and grouped (skipdag's parameters are conditional), with a constant
#: liar for the trials in flight, read from the per-trial cache (`nas.search._tpe`). Chosen by
#: bench/sampler_cost.py (docs/benchmarks.md, "Sampler cost").
TPE_DEFAULTS: dict[str, Any] = {"multivariate": True, "group": True, "constant_liar": True}


def _sampler(name: str, seed: int, trials: int | None) -> optuna.samplers.BaseSampler:
    s = optuna.samplers
    if name == "tpe":
        from nas.search._tpe import OneAskerTPESampler

        return OneAskerTPESampler(seed=seed, **TPE_DEFAULTS)
    if name == "random":
        return s.RandomSampler(seed=seed)
    if name == "cmaes":
        return s.CmaEsSampler(seed=seed, warn_independent_sampling=False, independent_sampler=s.TPESampler(seed=seed))
    if name == "nsga2":
        return s.NSGAIISampler(seed=seed, population_size=8)
    if name == "gp":
        return s.GPSampler(seed=seed, warn_independent_sampling=False) if _gp_takes_warn() else s.GPSampler(seed=seed)
    if name == "qmc":
        return s.QMCSampler(seed=seed, warn_independent_sampling=False)
    if name == "evolution":
        from nas.search.evolution import RegularizedEvolutionSampler

        population, sample_size = evolution_sizes(trials)
        return RegularizedEvolutionSampler(population=population, sample_size=sample_size, seed=seed)
    raise ConfigError(f"--sampler {name!r} is not one of: {', '.join(SAMPLERS)}")


def _gp_takes_warn() -> bool:
    import inspect

    return "warn_independent_sampling" in inspect.signature(optuna.samplers.GPSampler).parameters


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    """'asha' (asynchronous successive halving), 'hyperband', 'median' or 'none', acting per epoch."""
    if name == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if name == "hyperband":  # brackets of successive halving up to the most epochs reported
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource="auto", reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"--pruner {name!r} is not one of: {', '.join(PRUNERS)}")
