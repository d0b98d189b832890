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
    _add_verbosity(parser, default=0)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        load(name).add_parser(sub)
    for command in sub.choices.values():  # `nas -q search ...` and `nas search -q ...` alike
        _add_verbosity(command, default=argparse.SUPPRESS)
    return parser


def _add_verbosity(parser: argparse.ArgumentParser, *, default: object) -> None:
    g = parser.add_argument_group("output").add_mutually_exclusive_group()
    g.add_argument(
        "-v",
        "--verbose",
        dest="verbosity",
        action="store_const",
        const=1,
        default=default,
        help="also show Ray's and Optuna's INFO logs (default: warnings only)",
    )
    g.add_argument(
        "-q",
        "--quiet",
        dest="verbosity",
        action="store_const",
        const=-1,
        default=default,
        help="no progress bars and no informational lines on stderr; errors still print",
    )


def set_verbosity(level: int) -> None:
    """-q (-1), default (0) or -v (1), for this process and the processes it starts.

    Progress bars are tqdm's, switched off here and by its own TQDM_DISABLE; Ray reads NAS_VERBOSITY in
    `workers.ray_executor.init_ray`; informational lines go through `nas.cli.main.info`.
    """
    import logging

    os.environ["NAS_VERBOSITY"] = str(level)
    if level < 0:
        os.environ["TQDM_DISABLE"] = "1"  # read when tqdm is imported: in child processes
        from functools import partialmethod

        import tqdm.std  # light (no torch); in this process every bar is a tqdm.std.tqdm

        tqdm.std.tqdm.__init__ = partialmethod(tqdm.std.tqdm.__init__, disable=True)  # type: ignore[method-assign]
    if "optuna" in sys.modules or level > 0:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.INFO if level > 0 else optuna.logging.WARNING)
    logging.getLogger("ray").setLevel(logging.INFO if level > 0 else logging.WARNING)


def info(*args: object) -> None:
    """An informational line on stderr (a summary, a note): hidden by `nas -q`."""
    if os.environ.get("NAS_VERBOSITY", "0") != "-1":
        print(*args, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run `nas ARGV`; its exit status (README, "Exit codes")."""
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
        import optuna  # noqa: F401 - quietened by set_verbosity
    set_verbosity(args.verbosity)
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
