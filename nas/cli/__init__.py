"""The `nas` command line: the entry point (`main`), tables, and one module per command.

The top of the import graph: it may import everything else; nothing imports it.
"""

from nas.cli.main import main

__all__ = ["main"]
