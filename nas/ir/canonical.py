"""Canonical form and hashing of an `Arch`.

Two graphs that differ only by dead nodes, 'none' nodes, node numbering, the order of a merge's
inputs (where it does not matter), a merge written for a single input, a pass-through identity
or a merge-only identity (conv(identity(add(a, b))) is conv(add(a, b))) are the same network, so
they get the same canonical form and hash.

The order of a concat's inputs matters unless channel order is lost after it: a dense conv (or
the classifier) absorbs any order in its weights, but a channel shuffle, a split, a grouped conv
or an add keeps it. A concat whose order matters (`ordered_concats`) keeps its inputs' order in
the canonical form, and the hash sees the position of each input.

Weight ties enter as structure: the hash includes, per tie group, its members' labels, so the
tie's number does not matter, only which nodes share weights. The hash is a directed Weisfeiler-Lehman refinement
(as in NAS-Bench-101's graph_util): invariant under relabelling by construction, an index
rather than a proof of equality — `Arch.isomorphic` decides equality.

Everything here is near-linear in the size of the graph (a 4096-node chain hashes in well under
a second): the identity bypass is one pass in topological order, and large graphs that
the exact refinement would need many rounds for get linear up/down passes (`wl_labels`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from nas.ir.graph import InvalidArchitecture, Node, toposort
from nas.ir.ops import OUTPUTS, parse_op


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def live_nodes(nodes: Sequence[Node], out: int) -> set[int]:
    """Nodes on an input-to-output path: the output and its ancestors."""
    keep, stack = {out}, [out]
    while stack:
        for j in nodes[stack.pop()].inputs:
            if j not in keep:
                keep.add(j)
                stack.append(j)
    return keep


def _passes_through(nodes: Sequence[Node | None], i: int) -> bool:
    """An identity with one input, no activation or scale, at its input's stage and width."""
    n = nodes[i]
    if n is None or n.op != "identity" or len(n.inputs) != 1 or n.act is not None or n.scale != 1.0:
        return False
    s = nodes[n.inputs[0]]
    assert s is not None  # a live node's inputs are live
    return s.stage == n.stage and s.width == n.width


def _collapse_identities(nodes: list[Node | None]) -> None:
    """Bypass pass-through identities: every reader reads the tensor their chain starts from.

    A reader left reading one tensor twice (an add or concat of x with an identity of x: x + x is
    not x, as a merge of one input would be) reads it first directly, then through a private
    identity per repeat, appended to `nodes`. No identity is shared between readers, so the
    result does not depend on the order of the nodes (an identity kept for one reader's repeat
    and also read by another made it order-dependent). Linear in the size of the graph.
    """
    through = [_passes_through(nodes, i) for i in range(len(nodes))]
    root = list(range(len(nodes)))
    for i in toposort([n or Node("none") for n in nodes], key=lambda i: i):
        n = nodes[i]
        if n is not None and through[i]:
            root[i] = root[n.inputs[0]]
    for u in range(len(nodes)):
        m = nodes[u]
        if m is None or through[u] or not any(through[j] for j in m.inputs):
            continue
        inputs: list[int] = []
        for j in m.inputs:
            r = root[j]
            if r in inputs:  # a repeat: through an identity of its own
                s = nodes[r]
                assert s is not None
                nodes.append(Node("identity", (r,), None, s.stage, s.width))
                r = len(nodes) - 1
            inputs.append(r)
        nodes[u] = m.with_inputs(tuple(inputs), m.merge)
    for i, flag in enumerate(through):
        if flag:
            nodes[i] = None


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


def _in_key(labels: Sequence[str], node: Node, ordered: bool) -> str:
    """A node's inputs' labels: in order for an ordered concat, as a multiset otherwise."""
    got = [labels[u] for u in node.inputs]
    return ",".join(got if ordered else sorted(got))


def _out_key(labels: Sequence[str], v: int, users: list[list[int]], nodes: Sequence[Node], ordered: list[bool]) -> str:
    """A node's users' labels, each with the position v has among its inputs where that counts."""
    return ",".join(sorted(labels[w] + (f"@{nodes[w].inputs.index(v)}" if ordered[w] else "") for w in users[v]))


def _exact_labels(nodes: Sequence[Node], users: list[list[int]], steps: int) -> list[str] | None:
    """Directed Weisfeiler-Lehman labels, refined until the number of classes stops growing;
    None if that would take more than `steps` (nodes + 2 x edges per round)."""
    ordered = ordered_concats(nodes)
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
                + _in_key(labels, nodes[v], ordered[v])
                + ">"
                + _out_key(labels, v, users, nodes, ordered)
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
    ordered = ordered_concats(nodes)
    labels = [_sha("updown|" + n.label()) for n in nodes]
    classes = len(set(labels))
    for _ in range(MAX_UPDOWN_PASSES):
        up = [""] * len(nodes)
        for v in order:
            up[v] = _sha(labels[v] + "<" + _in_key(up, nodes[v], ordered[v]))
        down = [""] * len(nodes)
        for v in reversed(order):
            down[v] = _sha(labels[v] + ">" + _out_key(down, v, users, nodes, ordered))
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
    """Drop 'none' nodes, prune dead nodes, bypass pass-through identities, fold merge-only
    identities into their reader, drop single-input merges and attributes that do nothing, sort.

    Nodes come out in topological order with ties broken by their WL label, every node's
    inputs sorted (an ordered concat's kept in order) and tie groups numbered by first
    appearance, so isomorphic graphs (barring WL ties between non-automorphic nodes) produce
    identical listings.
    """
    if any(n.op == "none" for n in graph):
        graph = drop_none(graph, output)
        output = next(i for i, n in enumerate(graph) if n.op in OUTPUTS)
    nodes: list[Node | None] = list(graph)
    live = live_nodes(list(graph), output)
    nodes = [n if i in live else None for i, n in enumerate(nodes)]
    _collapse_identities(nodes)
    _fold_merge_identities(nodes)
    alive = {i: n for i, n in enumerate(nodes) if n is not None}
    kept = list(alive)
    remap = {old: new for new, old in enumerate(kept)}
    compact = []
    # Fix: a tie group left with one live member shares nothing: the node is untied.
    members: dict[int, int] = {}
    for n in alive.values():
        if n.tie:
            members[n.tie] = members.get(n.tie, 0) + 1
    for n in alive.values():
        several = len(n.inputs) > 1
        merge = n.merge if several else None
        # Fix: 'avgproj' differs from 'proj' only where an add aligns an input from a finer stage
        # (`compile._shortcut`); elsewhere it is the same network and gets the same form.
        stages = [alive[j].stage for j in n.inputs]
        strided = several and min(stages) < max(stages)
        shortcut = n.shortcut if several and n.merge == "add" and strided else "proj"
        tie = n.tie if members.get(n.tie, 0) > 1 else 0
        compact.append(n.with_inputs(tuple(remap[j] for j in n.inputs), merge, shortcut=shortcut, tie=tie))
    labels = wl_labels(compact)
    ordered = ordered_concats(compact)
    order = toposort(compact, key=lambda i: labels[i])
    pos = {old: new for new, old in enumerate(order)}
    ties: dict[int, int] = {}
    out = []
    for old in order:
        n = compact[old]
        inputs = [pos[j] for j in n.inputs]
        tie = ties.setdefault(n.tie, len(ties) + 1) if n.tie else 0
        out.append(n.with_inputs(tuple(inputs if ordered[old] else sorted(inputs)), n.merge, tie=tie))
    return tuple(out)


def absent_nodes(graph: Sequence[Node], output: int) -> list[bool]:
    """Per node: True where it is 'none' or reads only absent nodes (what `drop_none` removes).

    Raises:
        InvalidArchitecture: the output reads only 'none' nodes (nothing reaches the classifier).
    """
    absent = [False] * len(graph)
    for i in toposort(graph, key=lambda i: i):
        n = graph[i]
        inputs = tuple(j for j in n.inputs if not absent[j])
        absent[i] = n.op == "none" or (bool(n.inputs) and not inputs)
        if absent[i] and i == output:
            raise InvalidArchitecture(f"node {i} (output) reads only 'none' nodes; nothing reaches the classifier")
    return absent


def drop_none(graph: Sequence[Node], output: int) -> tuple[Node, ...]:
    """The graph without its 'none' nodes, re-indexed: merges skip them, and a node that reads
    only 'none' nodes is absent too.

    Raises:
        InvalidArchitecture: the output reads only 'none' nodes (nothing reaches the classifier).
    """
    # Split out as `absent_nodes` so that `Arch.validate` can name nodes by their original index.
    absent = absent_nodes(graph, output)
    kept: list[Node] = []
    index: dict[int, int] = {}
    for i, n in enumerate(graph):
        if not absent[i]:
            index[i] = len(kept)
            kept.append(n)
    return tuple(n.with_inputs(tuple(index[j] for j in n.inputs if not absent[j]), n.merge) for n in kept)


def _fold_merge_identities(nodes: list[Node | None]) -> None:
    """Fold a merge-only identity into its one reader: conv(identity(add(a, b))) is conv(add(a, b)).

    The identity must do nothing but merge (no activation, scale or stride) and be read by one
    node that reads nothing else. An add folds only if the reader has the identity's width
    (an add projects its inputs to its node's width); a concat always folds (widths stack).
    """
    users: list[list[int]] = [[] for _ in nodes]
    for d, n in enumerate(nodes):
        if n is not None:
            for j in n.inputs:
                users[j].append(d)
    for i in toposort([n or Node("none") for n in nodes], key=lambda i: i):
        n = nodes[i]
        if n is None or n.op != "identity" or len(n.inputs) < 2 or n.act is not None or n.scale != 1.0:
            continue
        if len(users[i]) != 1:
            continue
        (u,) = users[i]
        reader = nodes[u]
        assert reader is not None
        ins = [m for j in n.inputs if (m := nodes[j]) is not None]  # a live node's inputs are live
        if reader.inputs != (i,) or n.stage != max(m.stage for m in ins):
            continue
        if n.merge == "add" and reader.width != n.width:
            continue
        # Fix: an identity whose width is not the sum of its concat inputs' widths projects
        # (1x1 conv + BN): a real layer, not a merge-only identity. It must not fold.
        if n.merge == "concat" and n.width != sum(m.width for m in ins):
            continue
        nodes[u] = reader.with_inputs(n.inputs, n.merge, shortcut=n.shortcut)
        for j in n.inputs:
            users[j] = [u if w == i else w for w in users[j]]
        nodes[i] = None


#: Kinds whose op mixes all input channels (any input channel order is absorbed by its weights).
_MIXING = frozenset({"conv", "pointwise", "sepconv", "output", "pixels", "upconv", "upsample"})
#: Kinds that act channel by channel (an order in is the same order out).
_PER_CHANNEL = frozenset({"identity", "maxpool", "avgpool", "depthwise", "none"})


def ordered_concats(nodes: Sequence[Node]) -> list[bool]:
    """Per node: True where it is a concat whose input order changes the function.

    A node is order-free if its op mixes all channels (a dense conv, the classifier), or acts
    channel by channel without changing width or resolution and every reader is order-free and
    merges it by concat or alone (an add would pair channels with another input's).
    """
    users = _users(nodes)
    free = [False] * len(nodes)
    for i in reversed(toposort(nodes, key=lambda i: i)):
        n = nodes[i]
        kind = parse_op(n.op).kind
        if kind in _MIXING:
            free[i] = True
        elif kind in _PER_CHANNEL:
            several = len(n.inputs) > 1
            if several and n.merge == "concat":
                cin = sum(nodes[j].width for j in n.inputs)
            elif several:
                cin = n.width
            else:
                cin = nodes[n.inputs[0]].width if n.inputs else n.width
            stride = max((nodes[j].stage for j in n.inputs), default=n.stage) != n.stage
            if cin != n.width or (kind == "identity" and stride):
                free[i] = True  # a 1x1 projection follows: it mixes
            else:
                free[i] = all(free[w] and (nodes[w].merge != "add" or len(nodes[w].inputs) == 1) for w in users[i])
    return [len(n.inputs) > 1 and n.merge == "concat" and not free[i] for i, n in enumerate(nodes)]


def graph_hash(nodes: Sequence[Node]) -> str:
    """SHA-256 hex of the multiset of WL labels (pass canonical nodes)."""
    labels = wl_labels(nodes)
    text = f"{len(nodes)}:" + ",".join(sorted(labels))
    groups: dict[int, list[str]] = {}
    for n, label in zip(nodes, labels, strict=True):
        if n.tie:
            groups.setdefault(n.tie, []).append(label)
    if groups:  # which nodes share weights, independent of the tie numbers
        text += "|ties:" + ";".join(sorted(",".join(sorted(g)) for g in groups.values()))
    return _sha(text)
