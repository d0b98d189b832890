"""Graph primitives of the IR: `Node`, `Edge`, the validation error and a topological sort.

Kept apart from `Arch` so that the canonical form (`nas.ir.canonical`) can work on node lists
without importing the `Arch` class that uses it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple


class InvalidArchitecture(ValueError):
    """An `Arch` broke a rule; the message names the node and the rule."""


class Edge(NamedTuple):
    src: int
    dst: int


@dataclass(frozen=True)
class Node:
    """One node: its `op`, the indices of its `inputs`, how they `merge`, `stage` and `width`."""

    op: str
    inputs: tuple[int, ...] = ()
    merge: str | None = None
    stage: int = 0
    width: int = 0

    def label(self) -> str:
        """What identifies the node up to graph structure (used by hashing and isomorphism)."""
        return f"{self.op}|{self.merge or '-'}|{self.stage}|{self.width}"


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
