"""Canonical form and hashing of an `Arch`.

Two graphs that differ only by dead nodes, node numbering, the order of a merge's inputs,
a merge written for a single input or a pass-through identity are the same network, so they
get the same canonical form and hash. The hash is a directed Weisfeiler-Lehman refinement
(as in NAS-Bench-101's graph_util): invariant under relabelling by construction, an index
rather than a proof of equality — `Arch.isomorphic` decides equality.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from nas.ir.graph import Node, toposort


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _live(nodes: list[Node], out: int) -> set[int]:
    """Nodes on an input-to-output path: the output and its ancestors."""
    keep, stack = {out}, [out]
    while stack:
        for j in nodes[stack.pop()].inputs:
            if j not in keep:
                keep.add(j)
                stack.append(j)
    return keep


def _collapse_identities(nodes: list[Node | None]) -> bool:
    """Bypass one pass-through identity (one input, same stage and width); True if one was."""
    for i, n in enumerate(nodes):
        if n is None or n.op != "identity" or len(n.inputs) != 1:
            continue
        (src,) = n.inputs
        s = nodes[src]
        assert s is not None  # a live node's inputs are live
        if s.stage != n.stage or s.width != n.width:
            continue  # it projects: a real layer
        users = [u for u, m in enumerate(nodes) if m is not None and i in m.inputs]
        if any(src in m.inputs for u in users if (m := nodes[u]) is not None):
            continue  # bypassing would feed src twice into one merge (x + x is not x)
        for u in users:
            m = nodes[u]
            assert m is not None
            nodes[u] = Node(m.op, tuple(src if j == i else j for j in m.inputs), m.merge, m.stage, m.width)
        nodes[i] = None
        return True
    return False


def wl_labels(nodes: Sequence[Node]) -> list[str]:
    """Per-node labels refined by predecessors and successors until the partition is stable."""
    users: list[list[int]] = [[] for _ in nodes]
    for d, n in enumerate(nodes):
        for s in n.inputs:
            users[s].append(d)
    labels = [_sha(n.label()) for n in nodes]
    classes = len(set(labels))
    for _ in range(len(nodes)):
        labels = [
            _sha(
                labels[v]
                + "<"
                + ",".join(sorted(labels[u] for u in nodes[v].inputs))
                + ">"
                + ",".join(sorted(labels[w] for w in users[v]))
            )
            for v in range(len(nodes))
        ]
        n_classes = len(set(labels))
        if n_classes == classes:
            break
        classes = n_classes
    return labels


def canonical_nodes(graph: Sequence[Node], output: int) -> tuple[Node, ...]:
    """Prune dead nodes, bypass pass-through identities, drop single-input merges, sort.

    Nodes come out in topological order with ties broken by their WL label, and every
    node's inputs sorted, so isomorphic graphs (barring WL ties between non-automorphic
    nodes) produce identical listings.
    """
    nodes: list[Node | None] = list(graph)
    live = _live(list(graph), output)
    nodes = [n if i in live else None for i, n in enumerate(nodes)]
    while _collapse_identities(nodes):
        pass
    kept = [i for i, n in enumerate(nodes) if n is not None]
    remap = {old: new for new, old in enumerate(kept)}
    compact = []
    for i in kept:
        n = nodes[i]
        assert n is not None
        merge = n.merge if len(n.inputs) > 1 else None
        compact.append(Node(n.op, tuple(remap[j] for j in n.inputs), merge, n.stage, n.width))
    labels = wl_labels(compact)
    order = toposort(compact, key=lambda i: labels[i])
    pos = {old: new for new, old in enumerate(order)}
    out = [
        Node(n.op, tuple(sorted(pos[j] for j in n.inputs)), n.merge, n.stage, n.width)
        for n in (compact[i] for i in order)
    ]
    return tuple(out)


def graph_hash(nodes: Sequence[Node]) -> str:
    """SHA-256 hex of the multiset of WL labels (pass canonical nodes)."""
    labels = wl_labels(nodes)
    return _sha(f"{len(nodes)}:" + ",".join(sorted(labels)))
