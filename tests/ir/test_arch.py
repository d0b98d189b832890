"""Arch: validation rules, canonical form, hashing (networkx isomorphism is the oracle), JSON."""

from __future__ import annotations

import itertools
import json
import random

import pytest

import search_spaces
from nas.ir import Arch, InvalidArchitecture, Node
from nas.ir.canonical import ordered_concats
from tests.helpers import relabel, sample_archs


def chain(*ops, width=16):
    nodes = [Node("input", (), None, 0, width)]
    for op in ops:
        nodes.append(Node(op, (len(nodes) - 1,), None, 0, width))
    nodes.append(Node("output", (len(nodes) - 1,), None, 0, width))
    return Arch(tuple(nodes))


@pytest.fixture(scope="module")
def sampled():
    return sample_archs(search_spaces.get("skipdag"), 60, seed=7)


# ---- validation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "nodes, message",
    [
        (
            [
                Node("input", (), None, 0, 8),
                Node("conv3x3", (2,), None, 0, 8),
                Node("conv3x3", (1,), None, 0, 8),
                Node("output", (2,), None, 0, 8),
            ],
            "cycle",
        ),
        (
            [Node("input", (), None, 0, 8), Node("conv3x3", (7,), None, 0, 8), Node("output", (1,), None, 0, 8)],
            "node 1 .*input 7 does not exist",
        ),
        (
            [Node("input", (), None, 0, 8), Node("conv9x9", (0,), None, 0, 8), Node("output", (1,), None, 0, 8)],
            "node 1: unknown op 'conv9x9'",
        ),
        (
            [Node("input", (), None, 0, 12), Node("gconv3x3_g8", (0,), None, 0, 16), Node("output", (1,), None, 0, 16)],
            "node 1 .*input width 12 is not divisible by 8 groups",
        ),
        (
            [Node("input", (), None, 0, 8), Node("gconv3x3", (0,), None, 0, 8), Node("output", (1,), None, 0, 8)],
            "needs a group count",
        ),
        (
            [
                Node("input", (), None, 0, 8),
                Node("conv3x3", (0,), None, 0, 8),
                Node("conv3x3", (0, 1), None, 0, 8),
                Node("output", (2,), None, 0, 8),
            ],
            "node 2 .*2 inputs need a merge",
        ),
        (
            [Node("input", (), None, 0, 8), Node("conv3x3", (0,), "mul", 0, 8), Node("output", (1,), None, 0, 8)],
            r"node 1 \(conv3x3\): merge = 'mul' is not allowed; merge must be 'add', 'concat' or null",
        ),
        (
            [
                Node("input", (), None, 0, 8),
                Node("conv3x3", (0,), None, 1, 8),
                Node("conv3x3", (1,), None, 0, 8),
                Node("output", (2,), None, 1, 8),
            ],
            "input 1 is at stage 1, later than this node's stage 0",
        ),
        (
            [Node("input", (), None, 0, 8), Node("conv3x3", (0,), None, 0, 0), Node("output", (1,), None, 0, 8)],
            r"node 1 \(conv3x3\): width = 0 is out of range; width must be an integer from 1 to 8192 \(MAX_WIDTH\)",
        ),
        (
            [Node("input", (), None, 0, 8), Node("conv3x3", (), None, 0, 8), Node("output", (0,), None, 0, 8)],
            "node 1 .*has no inputs",
        ),
        (
            [Node("input", (), None, 0, 8), Node("output", (0,), None, 0, 8), Node("output", (0,), None, 0, 8)],
            r"exactly one output node \('output' or 'pixels'\), found 2",
        ),
        (
            [Node("input", (), None, 0, 8), Node("conv3x3", (0, 0), "add", 0, 8), Node("output", (1,), None, 0, 8)],
            "listed twice",
        ),
    ],
)
def test_invalid_architectures_name_the_node_and_rule(nodes, message):
    with pytest.raises(InvalidArchitecture, match=message):
        Arch(tuple(nodes))


# ---- canonical form and hash -----------------------------------------------------------------
def test_thousand_relabellings_give_one_hash(sampled):
    rng = random.Random(0)
    for arch in sampled[:10]:
        h = arch.hash()
        assert len(h) == 64 and int(h, 16) >= 0
        for _ in range(100):
            assert relabel(arch, rng).hash() == h


def test_dead_nodes_and_input_order_do_not_change_the_hash(sampled):
    rng = random.Random(1)
    for arch in sampled:
        nodes = list(arch.nodes)
        # a dead branch: two nodes off some live node, consumed by nothing on the output path
        src = rng.randrange(len(nodes) - 1)
        stage, width = nodes[src].stage, nodes[src].width
        nodes.append(Node("conv3x3", (src,), None, stage, width))
        nodes.append(Node("sepconv3x3", (src, len(nodes) - 1), "concat", stage, width))
        ordered = ordered_concats(nodes)
        nodes = [n if ordered[i] else n.with_inputs(tuple(reversed(n.inputs)), n.merge) for i, n in enumerate(nodes)]
        noisy = Arch(tuple(nodes))
        assert noisy.hash() == arch.hash()
        assert len(noisy.canonical().nodes) == len(arch.canonical().nodes)


def test_single_input_merge_and_passthrough_identity_are_normalised():
    plain = chain("conv3x3", "conv5x5")
    noisy = Arch(
        (
            Node("input", (), None, 0, 16),
            Node("conv3x3", (0,), "add", 0, 16),
            Node("identity", (1,), None, 0, 16),
            Node("conv5x5", (2,), "concat", 0, 16),
            Node("output", (3,), None, 0, 16),
        )
    )
    assert noisy.canonical() == plain.canonical()
    assert noisy.hash() == plain.hash()
    # an identity that changes width is a projection, not a no-op: it stays
    projecting = Arch(
        (Node("input", (), None, 0, 16), Node("identity", (0,), None, 0, 32), Node("output", (1,), None, 0, 32))
    )
    assert len(projecting.canonical().nodes) == 3
    # bypassing would turn add(x, id(x)) into add(x, x): the identity stays
    double = Arch(
        (
            Node("input", (), None, 0, 8),
            Node("identity", (0,), None, 0, 8),
            Node("conv3x3", (0, 1), "add", 0, 8),
            Node("output", (2,), None, 0, 8),
        )
    )
    assert len(double.canonical().nodes) == 4


def _small_graphs():
    """Every small graph of a tiny space: enough distinct and isomorphic pairs to test iff."""
    space = search_spaces.get(
        "skipdag",
        widths=[[8], [16]],
        depth=[1, 2],
        ops=["conv3x3", "identity", "maxpool3x3"],
        max_skips=1,
        blocks=[],
        stems=["conv3x3"],
        stem_widths=[8],
        acts=["post"],
        scales=[1.0],
        zero_init=[False],
        tie=[False],
    )
    return sample_archs(space, 250, seed=11)


def test_equal_hash_iff_isomorphic_on_small_graphs():
    archs = _small_graphs()
    canon = [a.canonical() for a in archs]
    hashes = [a.hash() for a in archs]
    assert len(set(hashes)) > 20  # the space is small but not trivial
    same = diff = 0
    for i, j in itertools.combinations(range(len(archs)), 2):
        iso = canon[i].isomorphic(canon[j])
        assert (hashes[i] == hashes[j]) == iso, (canon[i].to_json(), canon[j].to_json())
        same += iso
        diff += not iso
    assert same > 100 and diff > 100  # both directions were exercised


def test_canonical_is_idempotent_and_deterministic(sampled):
    rng = random.Random(2)
    for arch in sampled:
        c = arch.canonical()
        assert c.canonical() == c
        assert relabel(arch, rng).canonical().hash() == c.hash()


# ---- JSON and networkx -----------------------------------------------------------------------
def test_json_roundtrip_preserves_hash_and_structure(sampled):
    for arch in sampled:
        again = Arch.from_json(arch.to_json())
        assert again == arch and again.hash() == arch.hash()
        for node in json.loads(arch.to_json())["nodes"]:
            assert {"op", "merge", "inputs"} <= set(node)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", r"arch: \[1, 2\] has the wrong type \(list\); an architecture is a JSON object"),
        ('{"schema": "nas.arch/9", "nodes": []}', "arch: schema = 'nas.arch/9' is not allowed; schema must be"),
        ('{"schema": "nas.arch/1"}', "arch: missing key 'nodes'"),
        ('{"schema": "nas.arch/1", "nodes": [{"op": "input"}]}', r"node 0 \(input\): missing key 'merge'"),
        (
            '{"schema": "nas.arch/1", "nodes": [{"op": "input", "merge": null, "inputs": 3, "stage": 0, "width": 8}]}',
            r"node 0 \(input\): inputs = 3 has the wrong type \(int\); inputs must be a list",
        ),
        (
            '{"schema": "nas.arch/1", "nodes": [{"op": "input", "merge": null, "inputs": [], "stage": 0, '
            '"width": "8"}]}',
            r"node 0 \(input\): width = '8' has the wrong type \(str\); width must be an integer from 1 to 8192",
        ),
    ],
)
def test_malformed_json_gets_a_clear_error(text, message):
    with pytest.raises(InvalidArchitecture, match=message):
        Arch.from_json(text)


def test_to_networkx_carries_attributes_and_edges(sampled):
    arch = sampled[0]
    g = arch.to_networkx()
    assert g.number_of_nodes() == len(arch.nodes)
    assert sorted(g.edges) == sorted(tuple(e) for e in arch.edges)
    assert all(g.nodes[i]["op"] == n.op and g.nodes[i]["width"] == n.width for i, n in enumerate(arch.nodes))


# ---- a real Weisfeiler-Lehman collision, pinned ----------------------------------------------
def _crossed(first, second):
    """input -> two chains of adds whose cross-links differ only in which branch they read."""
    c = lambda *ins: Node("conv3x3", ins, "add" if len(ins) > 1 else None, 0, 8)  # noqa: E731
    return Arch(
        (
            Node("input", (), None, 0, 8),
            c(0),
            c(0),
            c(0, 1),
            c(0, *first),
            c(0, 2),
            c(0, *second),
            Node("output", (4, 6), "add", 0, 8),
        )
    )


#: Found by a random search over 113,658 small DAGs: the two graphs differ (node 4 reads
#: branches 1 and 3, or 2 and 3), yet every node sees the same multiset of neighbour labels.
WL_COLLISION = (_crossed((1, 3), (2, 5)), _crossed((2, 3), (1, 5)))


def test_known_wl_collision_same_hash_different_networks():
    a, b = WL_COLLISION
    assert a.hash() == b.hash()  # the hash is an index ...
    assert not a.isomorphic(b)  # ... isomorphism decides equality
    assert a.canonical() != b.canonical()
