"""The architecture graph: a frozen, validated DAG of nodes (no torch here).

A network is stem -> nodes -> global pool -> classifier. Node 0..n-1 are listed with their
`inputs` (indices of other nodes). Exactly one node has op ``input`` (the stem) and exactly one
has op ``output`` (feeds the classifier). A node's value is::

    y = op(merge(align(x_i) for x_i in inputs))

- resolution: stage ``s`` runs at the input resolution halved ``s`` times (rounding up).
  Inputs are merged at the coarsest of their stages; the op then strides down to the
  node's own stage.
- ``add`` projects every input whose width or resolution differs to the node's width
  (1x1 conv + BN, a ResNet projection shortcut); ``concat`` average-pools finer inputs to the
  merge resolution and stacks channels (DenseNet style); one input needs no merge.

Optional node attributes (`nas.ir.graph.NODE_DEFAULTS`; defaults are neither written nor
hashed, so older graphs keep their JSON and hash):

- ``act``: where the activation goes (`nas.ir.ops.ACTS`): 'post' conv-BN-ReLU, 'relu6'
  conv-BN-ReLU6, 'linear' conv-BN, 'pre' BN-ReLU-conv. Weighted ops default to 'post', the
  others to 'linear'; 'post' on an identity after an add is ResNet v1's ReLU after the add.
- ``dilation`` of a weighted op's kxk convolution (padding = dilation * (k // 2)).
- ``scale``: the node's output is multiplied by it (Y = X + a*F(X): ``scale`` a on F's last node).
- ``zero_init``: the op's last BatchNorm (or, for 'pre', its last conv) starts at zero, so a
  residual branch starts as nothing (torchvision's ``zero_init_residual``).
- ``shortcut``: how an add aligns an input of another shape: 'proj' (1x1 conv, stride f, BN)
  or 'avgproj' (f x f average pool, then 1x1 conv and BN: ResNet-D).
- ``tie``: weighted nodes with the same non-zero tie share one set of weights (one module,
  its parameters counted once); they must agree in op, act, widths, stride and dilation.
- ``dropout``: on the output node, the dropout before the classifier (MobileNetV2's 0.2).

An ``image`` node may replace the ``input`` stem: it is the image itself (its width is the
number of image channels), and the stem is written as nodes (ResNet's conv7x7 + maxpool).
A ``none`` node is an absent node: merges skip it, and a node that reads only ``none`` nodes is
absent too (`Arch.without_none`).

What each field may hold, and the size limits, are declared once in `nas.ir.schema` (bounds in
`nas.ir.limits`); `Arch.validate` checks those, then the rules that relate nodes to each other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from nas.ir.canonical import absent_nodes, canonical_nodes, drop_none, graph_hash
from nas.ir.graph import Edge, InvalidArchitecture, Node, toposort
from nas.ir.ops import OUTPUTS, STEM_KINDS, UP_KINDS, default_act, parse_op

__all__ = ["MERGES", "READ_SCHEMAS", "SCHEMA", "Arch", "Edge", "InvalidArchitecture", "Node"]

SCHEMA = "nas.arch/2"
#: Schemas this version reads: /1 is /2 without the optional node attributes.
READ_SCHEMAS = ("nas.arch/1", SCHEMA)
MERGES = ("add", "concat")


@dataclass(frozen=True)
class Arch:
    """A network graph. Validates itself on construction; see the module docstring."""

    nodes: tuple[Node, ...]

    def __post_init__(self) -> None:
        nodes = tuple(_as_node(n) for n in self.nodes)
        object.__setattr__(self, "nodes", nodes)
        self.validate()

    # ---- structure -------------------------------------------------------------------------
    @property
    def input_index(self) -> int:
        """The stem: the 'input' or 'image' node."""
        return next(i for i, n in enumerate(self.nodes) if n.op in STEM_KINDS)

    @property
    def output_index(self) -> int:
        """The output: 'output' (a classifier) or 'pixels' (a per-pixel classifier)."""
        return next(i for i, n in enumerate(self.nodes) if n.op in OUTPUTS)

    @property
    def dense(self) -> bool:
        """Whether the network predicts per pixel (its output node is 'pixels')."""
        return self.nodes[self.output_index].op == "pixels"

    @property
    def edges(self) -> list[Edge]:
        return [Edge(s, d) for d, n in enumerate(self.nodes) for s in n.inputs]

    def topological_order(self) -> list[int]:
        """Node indices, every node after its inputs (ties by index)."""
        return toposort(self.nodes, key=lambda i: i)

    def merge_stage(self, i: int) -> int:
        """The stage at which node i merges its inputs (the coarsest input stage)."""
        node = self.nodes[i]
        return max((self.nodes[j].stage for j in node.inputs), default=node.stage)

    def in_width(self, i: int) -> int:
        """Channels entering node i's op after the merge."""
        node = self.nodes[i]
        if not node.inputs:
            return 0
        return _in_width(self.nodes, i)

    def has_none(self) -> bool:
        return any(n.op == "none" for n in self.nodes)

    def without_none(self) -> Arch:
        """The same network with its 'none' nodes removed (merges skip them; re-indexed)."""
        return Arch(drop_none(self.nodes, self.output_index)) if self.has_none() else self

    # ---- validation ------------------------------------------------------------------------
    def validate(self) -> Arch:
        """Check every rule; return self.

        The fields of every node against the schema first (types, ranges, `nas.ir.limits`), then
        the graph: ops, inputs that exist, no cycles, stages, merges, groups.

        Raises:
            InvalidArchitecture: naming the node and the rule it breaks.
        """
        from nas.ir.schema import check_nodes

        nodes = self.nodes
        if not nodes:
            raise InvalidArchitecture("an architecture needs at least an 'input' and an 'output' node")
        check_nodes(nodes)
        for i, n in enumerate(nodes):
            where = f"node {i} ({n.op})"
            try:
                spec = parse_op(n.op)
            except ValueError as e:
                raise InvalidArchitecture(f"node {i}: {e}") from None
            for j in n.inputs:
                if not j < len(nodes):
                    raise InvalidArchitecture(
                        f"{where}: input {j} does not exist (nodes are 0..{len(nodes) - 1}); "
                        "inputs are indices of other nodes in the list"
                    )
                if j == i:
                    raise InvalidArchitecture(f"{where}: takes itself as input (a cycle)")
                if nodes[j].op in OUTPUTS:
                    raise InvalidArchitecture(f"{where}: the output node cannot feed other nodes")
                if nodes[j].stage > n.stage + (spec.kind in UP_KINDS):
                    raise InvalidArchitecture(
                        f"{where}: input {j} is at stage {nodes[j].stage}, later than this node's stage {n.stage}"
                        + (" + 1 (an up-sampling op goes one stage up)" if spec.kind in UP_KINDS else "")
                    )
            if len(set(n.inputs)) != len(n.inputs):
                raise InvalidArchitecture(f"{where}: an input is listed twice in {list(n.inputs)}")
            _check_attrs(where, n, spec.kind, spec.kernel, spec.weighted)
            if spec.kind in STEM_KINDS:
                if n.inputs:
                    raise InvalidArchitecture(f"{where}: the stem node takes no inputs")
                if n.stage != 0:
                    raise InvalidArchitecture(f"{where}: the stem node must be at stage 0")
            elif not n.inputs:
                raise InvalidArchitecture(f"{where}: has no inputs (every node but 'input' needs one)")
            if len(n.inputs) > 1 and n.merge is None:
                raise InvalidArchitecture(f"{where}: {len(n.inputs)} inputs need a merge ('add' or 'concat')")
        stems = [i for i, n in enumerate(nodes) if n.op in STEM_KINDS]
        if len(stems) != 1:
            raise InvalidArchitecture(
                f"an architecture needs exactly one stem node ('input' or 'image'), found {len(stems)}"
            )
        outs = [i for i, n in enumerate(nodes) if n.op in OUTPUTS]
        if len(outs) != 1:
            raise InvalidArchitecture(
                f"an architecture needs exactly one output node ('output' or 'pixels'), found {len(outs)}"
            )
        toposort(nodes, key=lambda i: i)  # raises on cycles
        if any(n.op == "none" for n in nodes):
            # Fix: check the graph without 'none' nodes, but name nodes by their index here
            # (drop_none re-indexes; messages named the wrong node).
            absent = absent_nodes(nodes, outs[0])
            _check_widths(drop_none(nodes, outs[0]), [i for i in range(len(nodes)) if not absent[i]])
        else:
            _check_widths(nodes)
        return self

    # ---- canonical form and identity -------------------------------------------------------
    def canonical(self) -> Arch:
        """The same network in canonical form (see `nas.ir.canonical`)."""
        return Arch(canonical_nodes(self.nodes, self.output_index))

    def hash(self) -> str:
        """Hex SHA-256 of the canonical graph, invariant to node numbering and input order."""
        return graph_hash(self.canonical().nodes)

    def isomorphic(self, other: Arch) -> bool:
        """True when both canonical graphs are isomorphic as labelled DAGs (networkx), with the
        input positions of ordered concats and the tie groups as part of the structure."""
        import networkx as nx

        from nas.ir.canonical import ordered_concats

        ca, cb = self.canonical(), other.canonical()
        a, b = ca.to_networkx(), cb.to_networkx()
        for g, arch in ((a, ca), (b, cb)):
            # Fix: an ordered concat's input order is part of the network (the hash sees it), so
            # edges into one carry the input's position; other edges match any.
            ordered = ordered_concats(arch.nodes)
            for d, n in enumerate(arch.nodes):
                for p, s in enumerate(n.inputs):
                    g.edges[s, d]["pos"] = p if ordered[d] else -1
            # Fix: labels say only 'tied'; which nodes share weights is structure. One extra node
            # per tie group, with an edge to each member, makes the match respect the grouping.
            for i, n in enumerate(arch.nodes):
                if n.tie:
                    g.add_node(("tie", n.tie), label="tie group")
                    g.add_edge(("tie", n.tie), i, pos=-1)
        return bool(
            nx.is_isomorphic(
                a, b, node_match=lambda x, y: x["label"] == y["label"], edge_match=lambda x, y: x["pos"] == y["pos"]
            )
        )

    def to_networkx(self) -> Any:
        """A `networkx.DiGraph`: nodes carry op, merge, stage, width, label; edges src -> dst."""
        import networkx as nx

        g = nx.DiGraph()
        for i, n in enumerate(self.nodes):
            g.add_node(i, op=n.op, merge=n.merge, stage=n.stage, width=n.width, label=n.label(), **n.extras())
        g.add_edges_from(self.edges)
        return g

    # ---- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "nodes": [
                {"op": n.op, "merge": n.merge, "inputs": list(n.inputs), "stage": n.stage, "width": n.width}
                | n.extras()
                for n in self.nodes
            ],
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> Arch:
        """Build from `to_dict` output, checked against the schema (`nas.ir.schema`).

        Raises:
            InvalidArchitecture: on any malformed part, one line naming it.
        """
        from nas.ir.schema import parse_arch

        return cls(parse_arch(data))

    @classmethod
    def from_json(cls, text: str | bytes) -> Arch:
        """Parse `to_json` output, checked against the schema (`nas.ir.schema`).

        Raises:
            InvalidArchitecture: not JSON, over `MAX_ARCH_BYTES`, or not an architecture; one line.
        """
        from nas.ir.schema import parse_arch_json

        return cls(parse_arch_json(text))

    # ---- summaries -------------------------------------------------------------------------
    def skip_edges(self) -> dict[tuple[int, int], bool]:
        """Skip edges (src, dst) -> whether the skip is long.

        A skip is every input of a merge but the latest in topological order (that one continues
        the backbone). It is long when it crosses stages (a finer source feeding a coarser node,
        not the classifier) or when it jumps over a deeper stage: an encoder-to-decoder skip of a
        U-Net joins two nodes of one stage with the bottleneck between them in the order.
        """
        order = self.topological_order()
        pos = {i: k for k, i in enumerate(order)}
        deepest = _RangeMax([self.nodes[i].stage for i in order])
        out = {}
        for d, n in enumerate(self.nodes):
            if len(n.inputs) < 2:
                continue
            chain = max(n.inputs, key=lambda j: pos[j])
            for j in n.inputs:
                if j == chain:
                    continue
                src = self.nodes[j]
                across = src.stage < n.stage and n.op != "output"
                over = src.stage == n.stage and deepest.query(pos[j] + 1, pos[d]) > n.stage
                out[(j, d)] = across or over
        return out

    def summary(self) -> dict[str, int]:
        """Counts a person scans a leaderboard for: op kinds, merges, skips, long skips."""
        out = {"nodes": len(self.nodes) - 2, "add": 0, "concat": 0, "skips": 0, "long_skips": 0}
        for n in self.nodes:
            kind = parse_op(n.op).kind
            if kind not in ("input", "image", "output", "pixels"):
                out[kind] = out.get(kind, 0) + 1
            if len(n.inputs) > 1 and n.merge is not None:
                out[n.merge] += 1
        skips = self.skip_edges()
        out["skips"] = len(skips)
        out["long_skips"] = sum(skips.values())
        return out


class _RangeMax:
    """Maximum of a list over index ranges in O(1) after O(n log n) set-up (a sparse table)."""

    def __init__(self, values: list[int]) -> None:
        self.table = [values]
        k = 1
        while 2 * k <= len(values):
            prev = self.table[-1]
            self.table.append([max(prev[i], prev[i + k]) for i in range(len(values) - 2 * k + 1)])
            k *= 2

    def query(self, lo: int, hi: int) -> int:
        """max(values[lo:hi]); -1 for an empty range."""
        if hi <= lo:
            return -1
        level = (hi - lo).bit_length() - 1
        row = self.table[level]
        return max(row[lo], row[hi - (1 << level)])


def _as_node(n: Node | dict[str, Any]) -> Node:
    if isinstance(n, dict):
        n = Node(**n)
    if not isinstance(n.inputs, tuple) and isinstance(n.inputs, list):
        n = replace(n, inputs=tuple(n.inputs))
    # Fix: scale=2 written in Python is 2.0 once read back from JSON; the label (and hash) used
    # repr(2) != repr(2.0), so a round trip changed the hash. Floats fields hold floats.
    if type(n.scale) is int:
        n = replace(n, scale=float(n.scale))
    if type(n.dropout) is int:
        n = replace(n, dropout=float(n.dropout))
    if n.act is not None and isinstance(n.op, str):
        try:
            kind = parse_op(n.op).kind
        except ValueError:
            return n  # validate() names the op
        if n.act == default_act(kind):
            n = replace(n, act=None)  # the default, spelt out: the same node
    return n


def _in_width(nodes: tuple[Node, ...], i: int) -> int:
    node = nodes[i]
    if not node.inputs:
        return 0
    if len(node.inputs) == 1:
        return nodes[node.inputs[0]].width
    if node.merge == "add":
        return node.width
    return sum(nodes[j].width for j in node.inputs)


def _check_attrs(where: str, n: Node, kind: str, kernel: int, weighted: bool) -> None:
    """The optional attributes against the op they sit on."""
    terminal = kind in STEM_KINDS or kind in ("output", "pixels", "none")
    if n.act is not None and (terminal or kind == "input"):
        raise InvalidArchitecture(f"{where}: act = {n.act!r} is not allowed on a {kind} node; remove it")
    # Fix: 'upconv' (kernel 2) was accepted, but its transposed conv ignores dilation.
    if n.dilation != 1 and not (weighted and kernel > 1 and kind != "upconv"):
        raise InvalidArchitecture(
            f"{where}: dilation = {n.dilation} needs an op with a kxk convolution (k > 1), such as conv3x3"
        )
    for attr in ("zero_init", "tie"):
        if getattr(n, attr) and not weighted:
            raise InvalidArchitecture(f"{where}: {attr} needs an op with weights (a conv), not {n.op!r}")
    if n.scale != 1.0 and terminal:
        raise InvalidArchitecture(f"{where}: scale = {n.scale!r} is not allowed on a {kind} node; remove it")
    if n.dropout and kind not in ("output", "pixels"):
        raise InvalidArchitecture(f"{where}: dropout belongs on the output node only")
    if kind in UP_KINDS and (n.act == "pre" or n.tie or n.zero_init):
        raise InvalidArchitecture(
            f"{where}: act 'pre', tie and zero_init are not offered for up-sampling ops; remove them"
        )


def _check_widths(nodes: tuple[Node, ...], names: list[int] | None = None) -> None:
    """Width rules of ops that constrain them, and ties (on the graph without 'none' nodes;
    `names[i]`: the index node i had before they were dropped)."""
    tied: dict[int, tuple[int, tuple[object, ...]]] = {}
    for i, n in enumerate(nodes):
        spec = parse_op(n.op)
        where = f"node {names[i] if names else i} ({n.op})"
        cin = _in_width(nodes, i)
        if spec.grouped:
            for what, c in (("input width", cin), ("width", n.width)):
                if c % spec.groups:
                    raise InvalidArchitecture(
                        f"{where}: {what} {c} is not divisible by {spec.groups} groups; "
                        f"use a width that is a multiple of {spec.groups} or fewer groups"
                    )
        if spec.kind in ("depthwise", "chshuffle") and n.width != cin:
            raise InvalidArchitecture(
                f"{where}: width {n.width} differs from its input width {cin}; a {spec.kind} op keeps the width"
            )
        merge_stage = max((nodes[j].stage for j in n.inputs), default=n.stage)
        if spec.kind in ("chshuffle", "split") and n.stage != merge_stage:
            raise InvalidArchitecture(
                f"{where}: stage {n.stage} differs from its inputs' stage {merge_stage}; a {spec.kind} op cannot stride"
            )
        if spec.kind in UP_KINDS and n.stage != merge_stage - 1:
            raise InvalidArchitecture(
                f"{where}: an up-sampling op goes one stage up, so its stage must be {merge_stage - 1} "
                f"(its inputs' stage - 1), not {n.stage}"
            )
        if spec.kind in ("maxpool", "avgpool") and spec.kernel == 2 and n.stage != merge_stage + 1:
            raise InvalidArchitecture(
                f"{where}: a 2x2 pool halves the resolution once, so its stage must be {merge_stage + 1} "
                f"(its inputs' stage + 1), not {n.stage}; use a 3x3 pool to keep the resolution"
            )
        if spec.kind == "split" and (cin % 2 or n.width != cin // 2):
            raise InvalidArchitecture(
                f"{where}: width {n.width} must be half its input width {cin} (an even number); "
                "chunk0/chunk1 take half the channels each"
            )
        if n.tie:
            shape = (n.op, n.act, cin, n.width, n.stage - merge_stage, n.dilation, n.zero_init)
            first = tied.setdefault(n.tie, (names[i] if names else i, shape))
            if first[1] != shape:
                raise InvalidArchitecture(
                    f"{where}: tie {n.tie} joins it to node {first[0]}, but they differ in op, act, widths, "
                    "stride or dilation; tied nodes must be the same layer"
                )
