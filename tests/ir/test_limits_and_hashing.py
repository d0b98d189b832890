"""Input limits of the IR (`nas.ir.limits`, declared in `nas.ir.schema`) and near-linear hashing
that keeps the hashes every graph had before it (the pins below were computed by the old code)."""

from __future__ import annotations

import json
import random

import pytest

import search_spaces
from nas.ir import Arch, InvalidArchitecture, Node, canonical
from nas.ir.graph import toposort
from nas.ir.limits import MAX_ARCH_BYTES, MAX_FAN_IN, MAX_NODES, MAX_STAGES, MAX_WIDTH
from tests.helpers import relabel, sample_archs


def chain_nodes(n, op="conv3x3", width=16):
    """input -> n-2 nodes of `op` -> output: n nodes."""
    nodes = [Node("input", (), None, 0, width)]
    nodes += [Node(op, (i,), None, 0, width) for i in range(n - 2)]
    return [*nodes, Node("output", (n - 2,), None, 0, width)]


def dag_nodes(n, fan=3, seed=0):
    """A random DAG: every node reads its predecessor and up to fan-1 earlier nodes (add)."""
    rng = random.Random(seed)
    ops = ["conv3x3", "conv5x5", "sepconv3x3", "identity", "maxpool3x3"]
    nodes = [Node("input", (), None, 0, 16)]
    for i in range(1, n - 1):
        ins = {i - 1} | {rng.randrange(i) for _ in range(rng.randrange(fan))}
        nodes.append(Node(rng.choice(ops), tuple(sorted(ins)), "add" if len(ins) > 1 else None, 0, 16))
    return [*nodes, Node("output", (n - 2,), None, 0, 16)]


# ---- limits ----------------------------------------------------------------------------------
def test_the_limits_leave_room_for_resnet50_scale_networks():
    assert MAX_WIDTH >= 4096 and MAX_NODES >= 2000 and MAX_STAGES >= 6 and MAX_FAN_IN >= 64
    Arch(tuple(chain_nodes(MAX_NODES, width=MAX_WIDTH)))  # the largest allowed: accepted
    wide = [Node("input", (), None, 0, 8)]
    wide += [Node("conv1x1", (0,), None, s, 8) for s in range(1, MAX_STAGES)]
    wide.append(Node("output", tuple(range(1, MAX_STAGES)), "concat", MAX_STAGES - 1, 8))
    Arch(tuple(wide))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"width": MAX_WIDTH + 1}, rf"node 1 \(conv3x3\): width = {MAX_WIDTH + 1} is out of range; .*MAX_WIDTH"),
        ({"width": 2**64}, r"width = 18446744073709551616 is out of range"),
        ({"width": -1}, r"width = -1 is out of range"),
        ({"width": 16.0}, r"width = 16.0 has the wrong type \(float\)"),
        ({"stage": MAX_STAGES}, rf"stage = {MAX_STAGES} is out of range; stage must be an integer from 0 to 15"),
        ({"stage": 10**12}, r"stage = 1000000000000 is out of range"),
        ({"op": "gconv3x3_g" + "9" * 50}, r"node 1: op 'gconv3x3_g9+': 9+ groups, more than MAX_WIDTH"),
        ({"op": "gconv3x3_g" + "9" * 5000}, r"op = 'gconv3x3_g9+\.\.\. is longer than 64 characters"),
        ({"op": "gconv3x3_g\u00b2"}, r"needs a group count"),
        ({"op": None}, r"op = None has the wrong type \(NoneType\)"),
        ({"inputs": (0,) * (MAX_FAN_IN + 1)}, rf"inputs has {MAX_FAN_IN + 1} items, more than {MAX_FAN_IN}"),
        ({"inputs": (-1,)}, r"inputs\[0\] = -1 is out of range"),
        ({"inputs": (True,)}, r"inputs\[0\] = True has the wrong type \(bool\)"),
        ({"merge": "max"}, r"merge = 'max' is not allowed; merge must be 'add', 'concat' or null"),
    ],
)
def test_each_field_is_bounded_with_a_one_line_message(change, message):
    fields = {"op": "conv3x3", "inputs": (0,), "merge": None, "stage": 0, "width": 8} | change
    with pytest.raises(InvalidArchitecture, match=message) as e:
        Arch((Node("input", (), None, 0, 8), Node(**fields), Node("output", (1,), None, 0, 8)))
    assert "\n" not in str(e.value)
    # the JSON form says the same
    doc = Arch((Node("input", (), None, 0, 8), Node("conv3x3", (0,), None, 0, 8), Node("output", (1,), None, 0, 8)))
    data = doc.to_dict()
    data["nodes"][1] |= {k: list(v) if isinstance(v, tuple) else v for k, v in change.items()}
    with pytest.raises(InvalidArchitecture, match=message):
        Arch.from_dict(data)


def test_too_many_nodes_is_refused_before_any_graph_work():
    with pytest.raises(InvalidArchitecture, match=rf"has {MAX_NODES + 1} nodes, more than {MAX_NODES}.*MAX_NODES"):
        Arch(tuple(chain_nodes(MAX_NODES + 1)))
    text = Arch(tuple(chain_nodes(10))).to_dict()
    text["nodes"] = [text["nodes"][0]] + [text["nodes"][1]] * 10_000 + [text["nodes"][-1]]
    with pytest.raises(InvalidArchitecture, match=r"arch: nodes has 10002 items, more than 4096"):
        Arch.from_json(json.dumps(text))


@pytest.mark.parametrize(
    "text, message",
    [
        ("[" * 100_000, r"arch is not valid JSON: recursion limit exceeded"),
        ('{"schema": "nas.arch/1", "nodes": [' + "9" * 5000 + "]}", r"arch is not valid JSON: number out of range"),
        ('{"schema": "nas.arch/1", "nodes": NaN}', r"arch is not valid JSON"),
        (b"\xff\xfe{}", r"arch is not valid JSON"),
        (b" " * (MAX_ARCH_BYTES + 1), r"arch JSON is 33,554,433 bytes long, over the limit of 33,554,432 \(MAX_ARCH"),
        (json.dumps({**Arch(tuple(chain_nodes(3))).to_dict(), "name": "x"}), r"arch: unknown key 'name'"),
        (123, r"arch JSON must be text, got int"),
    ],
)
def test_hostile_json_is_one_line(text, message):
    with pytest.raises(InvalidArchitecture, match=message) as e:
        Arch.from_json(text)
    assert "\n" not in str(e.value)


def test_a_long_cycle_message_stays_short():
    nodes = chain_nodes(200)
    nodes[1] = Node("conv3x3", (0, 150), "add", 0, 16)  # 1 -> ... -> 150 -> 1
    with pytest.raises(InvalidArchitecture, match=r"cycle through nodes \[1, 2, .*, \.\.\. \(150 nodes\)\]") as e:
        Arch(tuple(nodes))
    assert len(str(e.value)) < 200


# ---- hashing: the same hashes as before, near-linear -----------------------------------------
#: Computed by the quadratic implementation this one replaced (git d326a9b): they must not move,
#: or every database's stored hashes would stop matching. One moved on purpose, once: dag1000 has
#: merge-only identities (identity(add(a, b)) read by one node alone), which since IR v2
#: (nas.arch/2) fold into their reader, as the same network must (migration 0004 rehashes stored
#: architectures). Its old value was d5c250b88842452a492a3b8cf15c40668da6aabf6aaca7280f9a9fc0543015a8.
#: And once more: dag1000 has an identity kept to separate a repeated input (add(x, identity(x)))
#: that another node also read; the old bypass let that other reader keep the identity or not
#: depending on node order (a relabelling changed the hash). Since migration 0005 no kept
#: identity is shared. Its value before: 2535507c641d71b3b83440d7e745cbc06f7555433846cdd1f810844db2147271.
PINNED = {
    "chain5": ("45bd44f341c8ae52e6491309dca62f0d5d05a0f8bcb07c524ee19c27ea363754", chain_nodes(5)),
    "chain400": ("49f2729af48f3efe316767d6e06bbe273f185920257491ac391ee77bdfc22045", chain_nodes(400)),
    "dag1000": ("8c512d84e20ca75cc57a1708a828bd98fade3de3ac1206d5ef1da68e43ed6f5a", dag_nodes(1000)),
    "dense300": ("58e737ed959ca2d7f5e482c1853966e186ad240da6d8ba9c2dbbb772a4f0ea26", dag_nodes(300, 64, 1)),
}


@pytest.mark.parametrize("name", PINNED)
def test_hashes_are_the_ones_the_old_implementation_gave(name):
    expected, nodes = PINNED[name]
    assert Arch(tuple(nodes)).hash() == expected


def _expression(nodes, out, table):
    """What node `out` computes, as an interned expression: a pass-through identity is its input,
    a one-input merge is its input, add and concat are unordered here (the test graphs feed only
    dense convs). An oracle for the bypass, written without it; `table` interns expressions."""
    memo = {}

    def expr(i):
        if i not in memo:
            n = nodes[i]
            ins = [expr(j) for j in n.inputs]
            src = nodes[n.inputs[0]] if len(n.inputs) == 1 else None
            if n.op == "identity" and src is not None and (src.stage, src.width) == (n.stage, n.width):
                memo[i] = ins[0]
            else:
                merged = ins[0] if len(ins) == 1 else (n.merge, tuple(sorted(ins)))
                memo[i] = table.setdefault((n.op, n.stage, n.width, merged), len(table))
        return memo[i]

    return expr(out)


def _identity_rich_graphs(n_graphs, seed):
    rng = random.Random(seed)
    for _ in range(n_graphs):
        n = rng.randrange(3, 30)
        nodes = [Node("input", (), None, 0, 8)]
        for i in range(1, n - 1):
            ins = {rng.randrange(i)} | ({rng.randrange(i) for _ in range(2)} if rng.random() < 0.4 else set())
            op = rng.choice(["identity", "identity", "identity", "conv3x3"])
            nodes.append(Node(op, tuple(ins), rng.choice(["add", "concat"]) if len(ins) > 1 else None, 0, 8))
        nodes.append(Node("output", (n - 2,), None, 0, 8))
        yield nodes


def test_identity_bypass_keeps_the_function_and_ignores_node_order():
    """On identity-rich graphs: the bypassed graph computes what the graph did, and relabelling
    the graph gives the same canonical listing (the bypass once kept an identity for one reader's
    repeated input and let other readers share it or not, by node order)."""
    rng = random.Random(6)
    for nodes in _identity_rich_graphs(400, seed=5):
        bypassed = list(nodes)
        canonical._collapse_identities(bypassed)
        kept = [n if n is not None else Node("none") for n in bypassed]
        table = {}  # one table: equal ids are equal expressions
        assert _expression(kept, len(nodes) - 1, table) == _expression(nodes, len(nodes) - 1, table)
        assert not any(
            canonical._passes_through(bypassed, i) and len([m for m in bypassed if m and i in m.inputs]) > 1
            for i in range(len(bypassed))
        ), "an identity kept for a repeat is private to its reader"
        arch = Arch(tuple(nodes))
        for _ in range(3):
            assert relabel(arch, rng).canonical() == arch.canonical()


@pytest.fixture
def updown_only(monkeypatch):
    """Every graph labelled by the linear up/down passes (as graphs beyond the exact budget are)."""
    monkeypatch.setattr(canonical, "EXACT_WL_STEPS", 0)
    monkeypatch.setattr(canonical, "EXACT_WL_ROUNDS", 0)


def test_updown_labels_are_relabelling_invariant_and_separate_small_graphs(updown_only):
    space = search_spaces.get(
        "skipdag", widths=[[8], [16]], depth=[1, 2], ops=["conv3x3", "identity", "maxpool3x3"], max_skips=1
    )
    archs = sample_archs(space, 120, seed=11)
    rng = random.Random(3)
    canon = [a.canonical() for a in archs]
    hashes = [a.hash() for a in archs]
    for a, h in zip(archs[:30], hashes[:30], strict=True):
        for _ in range(10):
            assert relabel(a, rng).hash() == h
    for i in range(len(archs)):
        for j in range(i):
            if hashes[i] == hashes[j]:
                assert canon[i].isomorphic(canon[j])


def test_large_graphs_hash_consistently():
    """Beyond the exact budget: still invariant under relabelling (and done in linear passes)."""
    rng = random.Random(9)
    for nodes in (chain_nodes(MAX_NODES), dag_nodes(3000, fan=4, seed=2), chain_nodes(3000, op="identity")):
        arch = Arch(tuple(nodes))
        assert relabel(arch, rng).hash() == arch.hash()
    a, b = Arch(tuple(chain_nodes(3000))), Arch(tuple(chain_nodes(3001)))
    assert a.hash() != b.hash()


def test_canonical_order_is_topological_on_large_graphs():
    arch = Arch(tuple(dag_nodes(2500, fan=5, seed=4)))
    canon = arch.canonical()
    assert canon.topological_order() == list(range(len(canon.nodes)))
    assert toposort(canon.nodes, key=lambda i: i) == list(range(len(canon.nodes)))
