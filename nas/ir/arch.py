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

What each field may hold, and the size limits, are declared once in `nas.ir.schema` (bounds in
`nas.ir.limits`); `Arch.validate` checks those, then the rules that relate nodes to each other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nas.ir.canonical import canonical_nodes, graph_hash
from nas.ir.graph import Edge, InvalidArchitecture, Node, toposort
from nas.ir.ops import parse_op

__all__ = ["MERGES", "SCHEMA", "Arch", "Edge", "InvalidArchitecture", "Node"]

SCHEMA = "nas.arch/1"
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
        return next(i for i, n in enumerate(self.nodes) if n.op == "input")

    @property
    def output_index(self) -> int:
        return next(i for i, n in enumerate(self.nodes) if n.op == "output")

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
        if len(node.inputs) == 1:
            return self.nodes[node.inputs[0]].width
        if node.merge == "add":
            return node.width
        return sum(self.nodes[j].width for j in node.inputs)

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
                if nodes[j].op == "output":
                    raise InvalidArchitecture(f"{where}: the output node cannot feed other nodes")
                if nodes[j].stage > n.stage:
                    raise InvalidArchitecture(
                        f"{where}: input {j} is at stage {nodes[j].stage}, later than this node's stage {n.stage}"
                    )
            if len(set(n.inputs)) != len(n.inputs):
                raise InvalidArchitecture(f"{where}: an input is listed twice in {list(n.inputs)}")
            if spec.kind == "input":
                if n.inputs:
                    raise InvalidArchitecture(f"{where}: the input node takes no inputs")
                if n.stage != 0:
                    raise InvalidArchitecture(f"{where}: the input node must be at stage 0")
            elif not n.inputs:
                raise InvalidArchitecture(f"{where}: has no inputs (every node but 'input' needs one)")
            if len(n.inputs) > 1 and n.merge is None:
                raise InvalidArchitecture(f"{where}: {len(n.inputs)} inputs need a merge ('add' or 'concat')")
        for op in ("input", "output"):
            idx = [i for i, n in enumerate(nodes) if n.op == op]
            if len(idx) != 1:
                raise InvalidArchitecture(f"an architecture needs exactly one {op!r} node, found {len(idx)}")
        toposort(nodes, key=lambda i: i)  # raises on cycles
        for i, n in enumerate(nodes):
            spec = parse_op(n.op)
            if spec.grouped:
                cin = self.in_width(i)
                for what, c in (("input width", cin), ("width", n.width)):
                    if c % spec.groups:
                        raise InvalidArchitecture(
                            f"node {i} ({n.op}): {what} {c} is not divisible by {spec.groups} groups; "
                            f"use a width that is a multiple of {spec.groups} or fewer groups"
                        )
        return self

    # ---- canonical form and identity -------------------------------------------------------
    def canonical(self) -> Arch:
        """The same network in canonical form (see `nas.ir.canonical`)."""
        return Arch(canonical_nodes(self.nodes, self.output_index))

    def hash(self) -> str:
        """Hex SHA-256 of the canonical graph, invariant to node numbering and input order."""
        return graph_hash(self.canonical().nodes)

    def isomorphic(self, other: Arch) -> bool:
        """True when both canonical graphs are isomorphic as labelled DAGs (networkx)."""
        import networkx as nx

        a, b = self.canonical().to_networkx(), other.canonical().to_networkx()
        return bool(nx.is_isomorphic(a, b, node_match=lambda x, y: x["label"] == y["label"]))

    def to_networkx(self) -> Any:
        """A `networkx.DiGraph`: nodes carry op, merge, stage, width, label; edges src -> dst."""
        import networkx as nx

        g = nx.DiGraph()
        for i, n in enumerate(self.nodes):
            g.add_node(i, op=n.op, merge=n.merge, stage=n.stage, width=n.width, label=n.label())
        g.add_edges_from(self.edges)
        return g

    # ---- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "nodes": [
                {"op": n.op, "merge": n.merge, "inputs": list(n.inputs), "stage": n.stage, "width": n.width}
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
    def summary(self) -> dict[str, int]:
        """Counts a person scans a leaderboard for: op kinds, merges, skips, long skips."""
        out = {"nodes": len(self.nodes) - 2, "add": 0, "concat": 0, "skips": 0, "long_skips": 0}
        order = self.topological_order()
        pos = {i: k for k, i in enumerate(order)}
        for n in self.nodes:
            kind = parse_op(n.op).kind
            if kind not in ("input", "output"):
                out[kind] = out.get(kind, 0) + 1
            if len(n.inputs) > 1 and n.merge is not None:
                out[n.merge] += 1
            last = max((pos[k] for k in n.inputs), default=-1)
            for j in n.inputs:
                # a skip: any edge beyond the one from the node's immediate predecessor chain
                if len(n.inputs) > 1 and pos[j] != last:
                    out["skips"] += 1
                    if self.nodes[j].stage < n.stage and n.op != "output":
                        out["long_skips"] += 1
        return out


def _as_node(n: Node | dict[str, Any]) -> Node:
    if isinstance(n, dict):
        n = Node(**n)
    if isinstance(n.inputs, tuple) or not isinstance(n.inputs, list):  # the schema names a non-list
        return n
    return Node(n.op, tuple(n.inputs), n.merge, n.stage, n.width)
