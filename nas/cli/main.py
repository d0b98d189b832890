"""`nas` command line: a thin layer over the Python API.

Each subcommand is one module in `nas.cli._commands` with `add_parser(subparsers)` and
`run(args) -> int`. Errors a user can cause print one line (`nas: error: ...`) and exit 2;
set NAS_DEBUG=1 to see the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from nas.cli._commands import READ_COMMANDS
from nas.version import __version__


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input, not a bug: one line, exit 2.

    A dataset error can only come from a loaded `workers.datasets`; importing it here would
    load torch into the read commands, so it is looked up only when already imported.
    """
    from db import DatabaseError
    from nas.ir import InvalidArchitecture
    from search_spaces import SpaceConfigError

    errors: tuple[type[BaseException], ...] = (
        DatabaseError,
        InvalidArchitecture,
        SpaceConfigError,
        ValueError,
        TypeError,
        FileNotFoundError,
        FileExistsError,
        PermissionError,
        IsADirectoryError,
        LookupError,
    )
    # looked up only when loaded (importing them would load torch or Ray into every command)
    for module, name in (("workers.datasets", "DatasetError"), ("workers.ray_executor", "RayUnavailable")):
        if module in sys.modules:
            errors = (*errors, getattr(sys.modules[module], name))
    return errors


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line (no usage block), like every other error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from nas.cli._commands import COMMANDS, load

    parser = _Parser(
        prog="nas",
        description="Neural architecture search over skip-connection graphs "
        "(Optuna proposes, Ray trains, one SQL database remembers).",
        epilog="Run `nas COMMAND --help` for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"nas {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        load(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `nas ARGV`; its exit status (README, "Exit status")."""
    try:
        try:
            code = _main(argv)
        finally:  # flushed here, not at exit, so that a reader that went away is handled below
            sys.stdout.flush()
    except BrokenPipeError:
        return _reader_gone()
    return code


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.command not in READ_COMMANDS:  # the read commands never load Optuna, torch or Ray
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("nas: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - turned into one line below
        from nas.search.driver import SearchInterrupted

        if os.environ.get("NAS_DEBUG"):
            raise
        if isinstance(e, SearchInterrupted):
            print(f"nas: {e}", file=sys.stderr)
            return e.exit_code
        if isinstance(e, user_errors()):
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            print(f"nas: error: {msg}", file=sys.stderr)
            return 2
        raise


def _reader_gone() -> int:
    """stdout's reader closed early (`nas leaderboard | head -1`): it had what it wanted, so no
    traceback and exit 0. Later writes, and Python's flush at exit, go to /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 0


if __name__ == "__main__":
    sys.exit(main())
