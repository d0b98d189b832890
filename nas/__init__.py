"""nas: neural architecture search over skip-connection graphs.

The graph (`Arch`, `Node`, `Edge`) is pure data; `nas.compile` turns it into PyTorch.
"""
from nas.arch import Arch, Edge, InvalidArchitecture, Node
from nas.ops import OP_KINDS, parse_op

__version__ = "0.1.0"

__all__ = ["Arch", "Edge", "InvalidArchitecture", "Node", "OP_KINDS", "parse_op", "__version__"]
