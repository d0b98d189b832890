"""Shared test utilities: sampling archs through real Optuna samplers, relabelling graphs."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import optuna

from nas.ir import Arch

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
    """The same network with nodes permuted, every node's inputs shuffled where their order does
    not matter (all but ordered concats, `ordered_concats`) and tie groups renumbered."""
    from nas.ir.canonical import ordered_concats

    ordered = ordered_concats(arch.nodes)
    perm = list(range(len(arch.nodes)))
    rng.shuffle(perm)  # old index -> new index
    ties = sorted({n.tie for n in arch.nodes if n.tie})
    new_ties = dict(zip(ties, rng.sample(range(1, 10 * len(ties) + 2), len(ties)), strict=True))
    new = [None] * len(perm)
    for old, n in enumerate(arch.nodes):
        inputs = [perm[j] for j in n.inputs]
        if not ordered[old]:
            rng.shuffle(inputs)
        new[perm[old]] = n.with_inputs(tuple(inputs), n.merge, tie=new_ties.get(n.tie, 0))
    return Arch(tuple(new))


# The start of a script run by `run_isolated`: the project's packages cannot be imported, even
# where pip installed them, and the script checks at its end (`assert_no_project()`) that none was.
BLOCK_PROJECT = r"""
import importlib.abc, json, sys
PROJECT = ("nas", "db", "workers", "search_spaces")


class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in PROJECT:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None


sys.meta_path.insert(0, Blocked())
for name in PROJECT:
    try:
        __import__(name)
    except ModuleNotFoundError:
        pass
    else:
        raise AssertionError(name + " is importable")


def assert_no_project():
    assert not any(m.split(".")[0] in PROJECT for m in sys.modules)
"""


def run_isolated(body: str, args: list[str], work: Path, *, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run `BLOCK_PROJECT + body` as work/standalone.py in `python -I` (no PYTHONPATH, cwd `work`,
    outside the repo), as a user of an exported model would; assert it exits 0."""
    script = work / "standalone.py"
    script.write_text(BLOCK_PROJECT + body)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["TORCH_HOME"] = str(work / "torch-home")  # torch.hub writes nothing for local folders; be sure
    proc = subprocess.run(
        [sys.executable, "-I", str(script), *args], cwd=work, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr
    return proc
