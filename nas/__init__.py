"""nas: neural architecture search over skip-connection graphs.

The Python API, every name resolved lazily so that `import nas` stays light (no torch, no Ray):

    nas.search(name="s1", trials=8, train={"epochs": 1})   # -> SearchSummary
    nas.run_search(nas.SearchConfig(...))
    nas.leaderboard(db_url, top=5)                          # -> list of dicts (as_frame=True: DataFrame)
    nas.export(db_url, "exported/", best=True)             # -> ExportResult
    model = nas.load("exported/")

Packages: `nas.ir` (the graph and its compiler), `nas.search` (config, strategy, driver),
`nas.final` (final protocol, evaluate, export), `nas.viz` (drawings, plots), `nas.cli`.
"""

from __future__ import annotations

import importlib
from typing import Any

from nas.version import __version__, code_version

__all__ = [
    "OP_KINDS",
    "Arch",
    "Edge",
    "InvalidArchitecture",
    "Node",
    "SearchConfig",
    "TrainConfig",
    "__version__",
    "code_version",
    "export",
    "leaderboard",
    "load",
    "parse_op",
    "run_search",
    "search",
]

_LAZY = {
    "Arch": "nas.ir",
    "Edge": "nas.ir",
    "InvalidArchitecture": "nas.ir",
    "Node": "nas.ir",
    "OP_KINDS": "nas.ir",
    "parse_op": "nas.ir",
    "SearchConfig": "nas.search.config",
    "TrainConfig": "workers.records",
    "run_search": "nas.search.driver",
    "search": "nas.search.driver",
    "export": "nas.final.export",
    "load": "nas.final.export",
    "leaderboard": "nas.final.leaderboard",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nas' has no attribute {name!r}")
