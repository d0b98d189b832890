"""nas: neural architecture search over skip-connection graphs.

The graph (`Arch`, `Node`, `Edge`) is pure data; `nas.compile` turns it into PyTorch.
The search API is imported lazily so `import nas` stays light (no torch, no Ray):

    nas.search(name="s1", trials=8, train={"epochs": 1})   # -> SearchSummary
    nas.run_search(nas.SearchConfig(...))
    nas.export(db_url, "exported/", best=True)             # -> ExportResult
    model = nas.load("exported/")
"""
from nas.arch import Arch, Edge, InvalidArchitecture, Node
from nas.ops import OP_KINDS, parse_op

__version__ = "0.1.0"

__all__ = [
    "Arch", "Edge", "InvalidArchitecture", "Node", "OP_KINDS", "SearchConfig", "code_version", "export",
    "load", "parse_op", "run_search", "search", "__version__",
]

_LAZY = {
    "SearchConfig": ("nas.config", "SearchConfig"),
    "run_search": ("nas.driver", "run_search"),
    "search": ("nas.driver", "search"),
    "export": ("nas.exporter", "export"),
    "load": ("nas.exporter", "load"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nas' has no attribute {name!r}")


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
