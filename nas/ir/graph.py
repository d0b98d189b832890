"""Graph primitives of the IR: `Node`, `Edge`, the validation error and a topological sort.

Kept apart from `Arch` so that the canonical form (`nas.ir.canonical`) can work on node lists
without importing the `Arch` class that uses it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple


class InvalidArchitecture(ValueError):
    """An `Arch` broke a rule; the message names the node and the rule."""


class Edge(NamedTuple):
    src: int
    dst: int


#: A node's optional attributes and their defaults. A default is never written to JSON nor
#: hashed, so graphs that use none of them keep the form and hash they always had.
NODE_DEFAULTS: dict[str, object] = {
    "act": None,
    "dilation": 1,
    "scale": 1.0,
    "zero_init": False,
    "shortcut": "proj",
    "tie": 0,
    "dropout": 0.0,
}


@dataclass(frozen=True)
class Node:
    """One node: its `op`, the indices of its `inputs`, how they `merge`, `stage` and `width`.

    The optional attributes (defaults in `NODE_DEFAULTS`; `nas.ir.arch` says what each does):
    `act` (activation placement: 'post', 'pre', 'linear', 'relu6'; None is the op's default),
    `dilation` of its convolution, `scale` (the output is multiplied by it: Y = X + a*F(X) puts
    a on F's last node), `zero_init` (its last BatchNorm starts at zero), `shortcut` (how an add
    aligns inputs of another shape: 'proj' or 'avgproj', ResNet-D), `tie` (nodes with the same
    non-zero tie share one set of weights) and `dropout` (before the classifier; output only).
    """

    op: str
    inputs: tuple[int, ...] = ()
    merge: str | None = None
    stage: int = 0
    width: int = 0
    act: str | None = None
    dilation: int = 1
    scale: float = 1.0
    zero_init: bool = False
    shortcut: str = "proj"
    tie: int = 0
    dropout: float = 0.0

    def extras(self) -> dict[str, object]:
        """The optional attributes that differ from their defaults."""
        return {k: getattr(self, k) for k, d in NODE_DEFAULTS.items() if getattr(self, k) != d}

    def label(self) -> str:
        """What identifies the node up to graph structure (used by hashing and isomorphism).

        A tie enters as 'tied' only: which nodes share weights is hashed as structure
        (`nas.ir.canonical.graph_hash`), not by the tie's arbitrary number.
        """
        base = f"{self.op}|{self.merge or '-'}|{self.stage}|{self.width}"
        extra = self.extras()
        if not extra:
            return base
        if extra.pop("tie", 0):
            extra["tied"] = True
        return base + "|" + ",".join(f"{k}={v!r}" for k, v in sorted(extra.items()))

    def with_inputs(self, inputs: tuple[int, ...], merge: str | None = None, **changes: object) -> Node:
        """This node reading `inputs` (merged by `merge`), with other fields changed too."""
        return replace(self, inputs=inputs, merge=merge, **changes)  # type: ignore[arg-type]


def toposort(nodes: Sequence[Node], key: Callable[[int], object]) -> list[int]:
    """Kahn's algorithm; among ready nodes the smallest `key(i)` goes first."""
    indeg = [len(n.inputs) for n in nodes]
    users: list[list[int]] = [[] for _ in nodes]
    for d, n in enumerate(nodes):
        for s in n.inputs:
            users[s].append(d)
    ready = [(key(i), i) for i, d in enumerate(indeg) if d == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, i = heapq.heappop(ready)
        order.append(i)
        for u in users[i]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(ready, (key(u), u))
    if len(order) != len(nodes):
        stuck = _on_cycles(nodes, users, set(range(len(nodes))) - set(order))
        shown = ", ".join(map(str, stuck[:10])) + (f", ... ({len(stuck)} nodes)" if len(stuck) > 10 else "")
        raise InvalidArchitecture(
            f"the graph has a cycle through nodes [{shown}]; every input must come earlier in the network"
        )
    return order


def _on_cycles(nodes: Sequence[Node], users: list[list[int]], stuck: set[int]) -> list[int]:
    """The nodes Kahn's algorithm could not order, less those merely downstream of a cycle
    (peeled off from the end: a node no stuck node reads)."""
    readers = {i: sum(u in stuck for u in users[i]) for i in stuck}
    ends = [i for i, k in readers.items() if k == 0]
    while ends:
        i = ends.pop()
        del readers[i]
        for j in nodes[i].inputs:
            if j in readers:
                readers[j] -= 1
                if readers[j] == 0:
                    ends.append(j)
    return sorted(readers)
