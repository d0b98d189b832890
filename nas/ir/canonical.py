"""Canonical form and hashing of an `Arch`.

Two graphs that differ only by dead nodes, node numbering, the order of a merge's inputs,
a merge written for a single input or a pass-through identity are the same network, so they
get the same canonical form and hash. The hash is a directed Weisfeiler-Lehman refinement
(as in NAS-Bench-101's graph_util): invariant under relabelling by construction, an index
rather than a proof of equality — `Arch.isomorphic` decides equality.

Everything here is near-linear in the size of the graph (a 4096-node chain hashes in well under
a second): the identity bypass revisits only the nodes a bypass touches, and large graphs that
the exact refinement would need many rounds for get linear up/down passes (`wl_labels`).
"""

from __future__ import annotations

import hashlib
import heapq
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


def _collapse_identities(nodes: list[Node | None]) -> None:
    """Bypass pass-through identities (one input, same stage and width), lowest index first.

    An identity is bypassed unless a node it feeds also reads its source (x + x is not x).
    Bypassing one can only change whether its source, its users and their other inputs can
    be bypassed, so only those are looked at again: near-linear, and the same result as
    rescanning the whole graph after every bypass.
    """
    users: list[set[int]] = [set() for _ in nodes]
    for d, n in enumerate(nodes):
        if n is not None:
            for j in n.inputs:
                users[j].add(d)

    def candidate(i: int) -> bool:
        n = nodes[i]
        return n is not None and n.op == "identity" and len(n.inputs) == 1

    heap = [i for i in range(len(nodes)) if candidate(i)]  # ascending: already a heap
    queued = set(heap)
    while heap:
        i = heapq.heappop(heap)
        queued.discard(i)
        n = nodes[i]
        if n is None or not candidate(i):
            continue
        (src,) = n.inputs
        s = nodes[src]
        assert s is not None  # a live node's inputs are live
        if s.stage != n.stage or s.width != n.width:
            continue  # it projects: a real layer
        if any(src in m.inputs for u in users[i] if (m := nodes[u]) is not None):
            continue  # bypassing would feed src twice into one merge
        affected = {src}
        for u in sorted(users[i]):
            m = nodes[u]
            assert m is not None
            nodes[u] = Node(m.op, tuple(src if j == i else j for j in m.inputs), m.merge, m.stage, m.width)
            users[src].add(u)
            affected.add(u)
            affected.update(m.inputs)
        users[src].discard(i)
        users[i] = set()
        nodes[i] = None
        for a in affected:
            if a not in queued and candidate(a):
                heapq.heappush(heap, a)
                queued.add(a)


#: The exact refinement below costs rounds x (nodes + 2 x edges) steps, and a chain of n nodes
#: needs ~n/2 rounds: quadratic. A graph it has not settled within this many steps, or within
#: EXACT_WL_ROUNDS rounds if those cost more, is labelled by the linear up/down refinement instead
#: (`_updown_labels`). Every graph that settles within that keeps the labels, canonical form and
#: hash it always had: chains of up to ~410 nodes, graphs with skips far larger, dense ones that
#: settle in a few rounds; all that search spaces produce. The test gives the same answer for
#: isomorphic graphs, so the hash stays an isomorphism invariant.
EXACT_WL_STEPS = 1 << 18
EXACT_WL_ROUNDS = 4
#: Most up/down passes (each linear): a graph not settled by then keeps its (still invariant) labels.
MAX_UPDOWN_PASSES = 16


def _users(nodes: Sequence[Node]) -> list[list[int]]:
    users: list[list[int]] = [[] for _ in nodes]
    for d, n in enumerate(nodes):
        for s in n.inputs:
            users[s].append(d)
    return users


def _exact_labels(nodes: Sequence[Node], users: list[list[int]], steps: int) -> list[str] | None:
    """Directed Weisfeiler-Lehman labels, refined until the number of classes stops growing;
    None if that would take more than `steps` (nodes + 2 x edges per round)."""
    labels = [_sha(n.label()) for n in nodes]
    classes = len(set(labels))
    per_round = len(nodes) + 2 * sum(len(n.inputs) for n in nodes)
    spent = 0
    for _ in range(len(nodes)):
        spent += per_round
        if spent > steps:
            return None
        memo: dict[str, str] = {}  # equal signatures, equal labels: hash each once
        new = []
        for v in range(len(nodes)):
            key = (
                labels[v]
                + "<"
                + ",".join(sorted(labels[u] for u in nodes[v].inputs))
                + ">"
                + ",".join(sorted(labels[w] for w in users[v]))
            )
            h = memo.get(key)
            if h is None:
                h = memo[key] = _sha(key)
            new.append(h)
        labels = new
        n_classes = len(set(labels))
        if n_classes == classes:
            break
        classes = n_classes
    return labels


def _updown_labels(nodes: Sequence[Node], users: list[list[int]]) -> list[str]:
    """Labels for large graphs in linear passes: each pass labels every node by its current label
    and its inputs' labels of the same pass, in topological order (so one pass sees all of a
    node's ancestors), then likewise by its users in reverse order, until the number of classes
    stops growing. Settled, this is the partition Weisfeiler-Lehman refinement reaches."""
    order = toposort(nodes, key=lambda i: i)  # any topological order gives the same labels
    labels = [_sha("updown|" + n.label()) for n in nodes]
    classes = len(set(labels))
    for _ in range(MAX_UPDOWN_PASSES):
        up = [""] * len(nodes)
        for v in order:
            up[v] = _sha(labels[v] + "<" + ",".join(sorted(up[u] for u in nodes[v].inputs)))
        down = [""] * len(nodes)
        for v in reversed(order):
            down[v] = _sha(labels[v] + ">" + ",".join(sorted(down[w] for w in users[v])))
        labels = [_sha(a + b) for a, b in zip(up, down, strict=True)]
        n_classes = len(set(labels))
        if n_classes == classes:
            break
        classes = n_classes
    return labels


def wl_labels(nodes: Sequence[Node]) -> list[str]:
    """Per-node labels refined by predecessors and successors until the partition is stable.

    Exact Weisfeiler-Lehman refinement while it is cheap (`EXACT_WL_STEPS`), the linear up/down
    refinement beyond: near-linear in the size of the graph either way.
    """
    users = _users(nodes)
    per_round = len(nodes) + 2 * sum(len(n.inputs) for n in nodes)
    labels = _exact_labels(nodes, users, max(EXACT_WL_STEPS, EXACT_WL_ROUNDS * per_round))
    return labels if labels is not None else _updown_labels(nodes, users)


def canonical_nodes(graph: Sequence[Node], output: int) -> tuple[Node, ...]:
    """Prune dead nodes, bypass pass-through identities, drop single-input merges, sort.

    Nodes come out in topological order with ties broken by their WL label, and every
    node's inputs sorted, so isomorphic graphs (barring WL ties between non-automorphic
    nodes) produce identical listings.
    """
    nodes: list[Node | None] = list(graph)
    live = _live(list(graph), output)
    nodes = [n if i in live else None for i, n in enumerate(nodes)]
    _collapse_identities(nodes)
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
