"""Shared test utilities: sampling archs through real Optuna samplers, relabelling graphs."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import optuna

from nas.ir import Arch

if TYPE_CHECKING:
    import torch
    from torch import nn

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


# ---- tiny real searches ------------------------------------------------------------------------
def tiny_search_options(trials: int) -> list[str]:
    """`nas search` options for a tiny, quick local search: synthetic data (300 images), random
    sampler, no pruner, one epoch of batch 64, `trials` trials, no progress bars."""
    fixed = (
        "--dataset synthetic --subset 300 --executor local --sampler random --pruner none --epochs 1 --batch-size 64"
    )
    return [*fixed.split(), "--trials", str(trials), "--no-progress"]


def run_tiny_search(path: Path, name: str, *, subset: int = 300, trials: int = 2, **options) -> str:
    """Run a tiny search `name` (as `tiny_search_options(trials)` with `subset` images, space
    options widths [[8], [16]] and depth [1, 2]) into the SQLite file `path`, in this process;
    return the database URL. `options` are further `SearchConfig` fields."""
    from nas.search.config import SearchConfig
    from nas.search.driver import run_search

    cfg = SearchConfig(
        name=name,
        db=f"sqlite:///{path}",
        dataset="synthetic",
        subset=subset,
        trials=trials,
        executor="local",
        sampler="random",
        pruner="none",
        train={"epochs": 1, "batch_size": 64},
        space_options={"widths": [[8], [16]], "depth": [1, 2]},
        **options,
    )
    run_search(cfg)
    return cfg.db


# ---- the IR's compile-and-compare harness (tests/ir/test_ops_v2.py, tests/ir/test_blocks.py) -----
# torch is imported in the functions: most tests that import this module never need it.
def features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The feature map entering the classifier (the output node's value)."""
    got = []
    handle = model.head.register_forward_pre_hook(lambda mod, args: got.append(args[0]))
    try:
        model(x)
    finally:
        handle.remove()
    return got[0]


def randomise_bn(model: nn.Module, seed: int = 0) -> None:
    """BatchNorm affine parameters and running statistics away from their identity defaults."""
    import torch
    from torch import nn

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=g))
                m.bias.copy_(0.3 * torch.randn(c, generator=g))
                m.running_mean.copy_(0.3 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + torch.rand(c, generator=g))


def assert_same_features(model: nn.Module, ref: nn.Module, shape: tuple[int, ...], tol: float) -> None:
    """model's features equal ref(x) to `tol` on a seeded float64 batch of two, in train mode then
    in eval mode."""
    import torch

    x = torch.randn(2, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for train in (True, False):
        model.train(train)
        ref.train(train)
        with torch.no_grad():
            torch.testing.assert_close(features(model, x), ref(x), atol=tol, rtol=0)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """torchvision.models.shufflenetv2.channel_shuffle."""
    b, c, h, w = x.size()
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).contiguous().view(b, -1, h, w)


def ctrl_c_reaches_the_child() -> None:
    """`preexec_fn` of a subprocess a test sends SIGINT: a test run started in the background of
    a non-interactive shell (`pytest ... &`) inherits SIGINT ignored, and a Python child that
    starts with SIGINT ignored never installs its KeyboardInterrupt handler."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
