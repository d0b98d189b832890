"""The `nas` subcommands, one module each (`add_parser(subparsers)`, `run(args) -> int`)."""

from __future__ import annotations

import importlib

#: In the order `nas --help` lists them.
COMMANDS = ("search", "searches", "leaderboard", "show", "evaluate", "export", "plot", "sample", "train")


def load(name: str):
    return importlib.import_module(f"nas.cli.{name.replace('-', '_')}")


def add_db_option(parser) -> None:
    parser.add_argument(
        "--db", default="sqlite:///nas.db", help="SQLAlchemy URL of the database (default: sqlite:///nas.db)"
    )
