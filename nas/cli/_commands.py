"""The `nas` subcommands, one module each (`add_parser(subparsers)`, `run(args) -> int`), and the
helpers that keep their options in step with the records they fill."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
from types import ModuleType
from typing import Any

#: In the order `nas --help` lists them.
COMMANDS = (
    "search",
    "searches",
    "leaderboard",
    "show",
    "evaluate",
    "export",
    "plot",
    "dashboard",
    "sample",
    "space",
    "train",
    "completion",
)
#: Commands that only read the database: they must load neither torch nor Ray (tests/test_layout.py).
READ_COMMANDS = ("searches", "leaderboard", "show")


def load(name: str) -> ModuleType:
    return importlib.import_module(f"nas.cli.{name.replace('-', '_')}")


def field_default(cls: type, name: str) -> Any:
    """The default of dataclass field `name` of `cls` (the one place a setting's default lives)."""
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise KeyError(f"{cls.__name__}.{name} has no default")


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value)


def field_option(
    parser: Any, flag: str, cls: type, name: str, *, help: str | None = None, default_text: str | None = None, **kw: Any
) -> None:
    """Add `flag` for the dataclass field `cls.name`: its help from the field's metadata and its
    default shown from the field itself. The option's own default is None ("not given"), so the
    record's default applies when the flag is absent."""
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    text = help or f.metadata.get("help", "")
    shown = default_text if default_text is not None else _shown(field_default(cls, name))
    kw.setdefault("default", None)
    kw.setdefault("metavar", flag.lstrip("-").upper().replace("-", "_"))
    if "(default:" not in text:  # a help text may say itself what its default means
        text = f"{text} (default: {shown})"
    parser.add_argument(flag, dest=kw.pop("dest", name), help=text, **kw)


def add_db_option(parser: argparse.ArgumentParser | Any) -> None:
    from nas.search.config import DB_HELP, default_db

    parser.add_argument("--db", default=default_db(), metavar="URL", help=DB_HELP)
