"""The architecture IR: the graph (`Arch`), its ops, canonical form and hash, and the compiler.

Lives here: the graph, ops, canonical hash, graph utilities, compiling to a module and to source,
the input limits (`nas.ir.limits`) and the declared schema of architecture files (`nas.ir.schema`).
May import: networkx and pydantic_core (both lazily); nothing of the project outside `nas.ir`, never
torch at import time (`build` runs the generated source, which imports torch only when called).
"""

from nas.ir.arch import MERGES, SCHEMA, Arch, Edge, InvalidArchitecture, Node
from nas.ir.compile import CLASSIFIER_WEIGHT, Cost, build, cost, to_source
from nas.ir.ops import OP_KINDS, OP_TABLE, OpSpec, op_bases, op_name, parse_op

__all__ = [
    "CLASSIFIER_WEIGHT",
    "MERGES",
    "OP_KINDS",
    "OP_TABLE",
    "SCHEMA",
    "Arch",
    "Cost",
    "Edge",
    "InvalidArchitecture",
    "Node",
    "OpSpec",
    "build",
    "cost",
    "op_bases",
    "op_name",
    "parse_op",
    "to_source",
]
