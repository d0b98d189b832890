"""Shared test utilities: sampling archs through real Optuna samplers, relabelling graphs."""

from __future__ import annotations

import random

import optuna

from nas.ir import Arch, Node

optuna.logging.set_verbosity(optuna.logging.WARNING)


def sample_archs(space, n: int, sampler: str = "random", seed: int = 0) -> list[Arch]:
    """n architectures sampled through a real Optuna study (told a cheap score so TPE learns)."""
    samplers = {
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed, n_startup_trials=10),
    }
    study = optuna.create_study(direction="maximize", sampler=samplers[sampler]())
    out = []
    for _ in range(n):
        trial = study.ask()
        arch = space.sample(trial)
        out.append(arch)
        study.tell(trial, float(len(arch.nodes)))
    return out


def relabel(arch: Arch, rng: random.Random) -> Arch:
    """The same graph with nodes permuted and every node's inputs shuffled."""
    perm = list(range(len(arch.nodes)))
    rng.shuffle(perm)  # old index -> new index
    new = [None] * len(perm)
    for old, n in enumerate(arch.nodes):
        inputs = [perm[j] for j in n.inputs]
        rng.shuffle(inputs)
        new[perm[old]] = Node(n.op, tuple(inputs), n.merge, n.stage, n.width)
    return Arch(tuple(new))
