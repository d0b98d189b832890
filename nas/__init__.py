"""nas: neural architecture search over skip-connection graphs.

The graph (`Arch`, `Node`, `Edge`) is pure data; `nas.compile` turns it into PyTorch.
"""
from nas.arch import Arch, Edge, InvalidArchitecture, Node
from nas.ops import OP_KINDS, parse_op

__version__ = "0.1.0"


def code_version() -> str:
    """The package version, plus the git commit when running from a checkout."""
    import os
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+g{sha}" if sha else __version__


__all__ = ["Arch", "Edge", "InvalidArchitecture", "Node", "OP_KINDS", "code_version", "parse_op", "__version__"]
