"""The `nas` command line: the entry point (`main`), tables, and one module per command.

Lives here: `main` and the parser (`main`), the command table (`_commands`), table rendering
(`table`), one module per command; `nas/__main__.py` (`python -m nas`) counts as part of it.
May import: everything else (`nas.search`, `nas.final`, `nas.viz`, `db`, `workers`, `search_spaces`,
`nas.ir`, the root `nas`); the top of the import graph: nothing imports it.
"""

from nas.cli.main import main

__all__ = ["main"]
