"""Two tiny search spaces for the fault tests, registered on import, so the tests depend on the
driver and not on the options of the real spaces (which evolve):

- ``fault-tiny``: a chain of 1-2 conv3x3 nodes of width 4, 8, 12 or 16 (eight networks, each
  trains in a fraction of a second);
- ``fault-one``: the same decisions, always the same network: the first trial trains it and
  every later one repeats it (duplicates, pruned repeats).

A subprocess gets them with `CLI` (the real `nas.cli.main`, run after importing this module).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import search_spaces
from nas.ir import Arch
from search_spaces.base import SearchSpace

#: `python CLI ARGS...` is `nas ARGS...` with these spaces registered
CLI = "import sys, tests.faults.spaces; from nas.cli.main import main; sys.exit(main(sys.argv[1:]))"


def chain(width: int, depth: int) -> Arch:
    def node(op: str, inputs: tuple[int, ...]) -> dict:
        return {"op": op, "merge": None, "inputs": list(inputs), "stage": 0, "width": width}

    nodes = [node("input", ())] + [node("conv3x3", (i,)) for i in range(depth)] + [node("output", (depth,))]
    return Arch.from_json(json.dumps({"schema": "nas.arch/1", "nodes": nodes}))


@dataclass(frozen=True)
class _Options:
    pass


class FaultTiny(SearchSpace):
    name = "fault-tiny"
    Options = _Options

    def sample(self, trial) -> Arch:
        width = trial.suggest_categorical("width", [4, 8, 12, 16])
        depth = trial.suggest_int("depth", 1, 2)
        return chain(width, depth)


class FaultOne(FaultTiny):
    name = "fault-one"

    def sample(self, trial) -> Arch:
        super().sample(trial)  # the same decisions, ignored
        return chain(8, 1)


for _space in (FaultTiny, FaultOne):
    search_spaces.register(_space)
