"""Start-up time of `nas leaderboard --db URL`: N fresh processes, their median and minimum wall-clock.

    python bench/startup.py --db sqlite:///bench-startup.db                 # this checkout, 10 runs
    python bench/startup.py --db sqlite:///bench-startup.db --rev f1e8dcf   # another revision
    python bench/startup.py --db URL --runs 20 --entry module               # `python -m nas ...`

Prints one JSON line: {"rev": ..., "median_s": ..., "min_s": ..., "runs": ...}; `rev` is
`git describe --always --dirty` of this checkout, or REV's short hash with --rev.

Each timed run is a new process of this Python (`sys.executable`) running the `nas` command with
``leaderboard --db URL``, started from the root of the tree measured so that tree's `nas` is the one
imported (checked before timing). The tree is this checkout, or with ``--rev REV`` a temporary
``git worktree add --detach`` of REV (the main working tree is not touched), removed afterwards.
One untimed warm-up run first writes the tree's bytecode caches.

How the command starts (``--entry``): ``script`` (the default) runs what the installed `nas`
console script runs (``nas = "nas.cli:main"``: ``from nas.cli import main; sys.exit(main())``);
``module`` runs ``python -m nas``, which revisions before the layout change (e.g. f1e8dcf) lack,
as they have no ``nas/__main__.py``. Compare revisions with the same entry. ``script+optuna+alembic``
is ``script`` importing optuna and Alembic first: what the read commands would cost if they loaded
them, measured in the same tree without a second checkout.

The database: any database with a finished search whose schema the measured tree reads (the
read commands of the layout change refuse an older schema revision, and older code refuses a newer
one; the script then stops with the command's error). A tiny one takes a few seconds on a CPU and
downloads nothing (from the repository root):

    python -m nas search --space skipdag --dataset synthetic --trials 2 --executor local \\
        --subset 200 --epochs 1 --batch-size 64 --save-weights none --no-progress \\
        --space-option 'widths=[[8],[16]]' --space-option 'depth=[1,1]' --db sqlite:///bench-startup.db

With ``--make-db`` the script runs exactly that search itself, with the measured tree's own code
(so with ``--rev`` the database has that revision's schema), when the SQLite file does not exist
yet; an existing file is used as it is. Revisions with different schemas each need their own file:

    python bench/startup.py --make-db --db sqlite:///startup-head.db
    python bench/startup.py --make-db --db sqlite:///startup-f1e8dcf.db --rev f1e8dcf
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENTRIES = {
    "script": ["-c", "import sys; from nas.cli import main; sys.exit(main())"],
    "module": ["-m", "nas"],
    # the script entry importing optuna and Alembic first, as the read commands once did: the price
    # of those two imports, side by side with `script` in the same tree (docs/benchmarks.md)
    "script+optuna+alembic": [
        "-c",
        "import sys, optuna, alembic.config, alembic.script; from nas.cli import main; sys.exit(main())",
    ],
}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()


@contextlib.contextmanager
def checkout(rev: str | None) -> Iterator[Path]:
    """The tree to measure: this checkout, or a temporary worktree of `rev` (removed on exit)."""
    if rev is None:
        yield REPO
        return
    with tempfile.TemporaryDirectory(prefix="nas-startup-") as tmp:
        tree = Path(tmp) / "tree"
        _git("worktree", "add", "--detach", "--quiet", str(tree), rev)
        try:
            yield tree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, capture_output=True)
            subprocess.run(["git", "worktree", "prune"], cwd=REPO, capture_output=True)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # only the tree's own `nas` (first on sys.path: the cwd) counts
    return env


def check_tree(tree: Path) -> None:
    """Fail unless a process started in `tree` imports `tree`'s `nas`."""
    code = "import os, nas; print(os.path.dirname(os.path.realpath(nas.__file__)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, env=_env(), capture_output=True, text=True)
    found = out.stdout.strip()
    if out.returncode != 0 or Path(found) != (tree / "nas").resolve():
        sys.exit(f"startup: a process in {tree} imports nas from {found or out.stderr.strip()!r}, not from the tree")


#: The tiny search that `--make-db` runs (the same options in every revision since f1e8dcf).
MAKE_DB = [
    *("search", "--space", "skipdag", "--dataset", "synthetic", "--trials", "2", "--executor", "local"),
    *("--subset", "200", "--epochs", "1", "--batch-size", "64", "--save-weights", "none", "--no-progress"),
    *("--space-option", "widths=[[8],[16]]", "--space-option", "depth=[1,1]"),
]


def make_db(tree: Path, db: str) -> None:
    """Create `db` (a SQLite URL) with a tiny finished search, run by `tree`'s own `nas search`."""
    path = Path(db[len("sqlite:///") :])
    if path.exists():
        return
    argv = [sys.executable, *ENTRIES["script"], *MAKE_DB, "--db", db]
    out = subprocess.run(argv, cwd=tree, env=_env(), capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"startup: making {db} with `nas search` in {tree} failed: {out.stderr.strip()}")


def time_runs(tree: Path, db: str, runs: int, entry: str) -> list[float]:
    """Wall-clock seconds of `runs` fresh `nas leaderboard --db db` processes started in `tree`."""
    argv = [sys.executable, *ENTRIES[entry], "leaderboard", "--db", db]
    times = []
    for i in range(runs + 1):  # the first is the untimed warm-up
        start = time.perf_counter()
        out = subprocess.run(argv, cwd=tree, env=_env(), capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if out.returncode != 0:
            sys.exit(f"startup: `nas leaderboard --db {db}` in {tree} exited {out.returncode}: {out.stderr.strip()}")
        if i:
            times.append(elapsed)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start-up time of `nas leaderboard --db URL`.")
    parser.add_argument("--db", required=True, help="SQLAlchemy URL of a database with a finished search")
    parser.add_argument("--runs", type=int, default=10, help="timed runs (default: 10)")
    parser.add_argument("--rev", help="measure this git revision (a temporary worktree) instead of this checkout")
    parser.add_argument(
        "--make-db", action="store_true", help="create the SQLite database first if missing, with the tree's own code"
    )
    parser.add_argument("--entry", choices=sorted(ENTRIES), default="script", help="how `nas` starts (default: script)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.db.startswith("sqlite:///") and not args.db.startswith("sqlite:////"):
        # a relative SQLite path would resolve against the worktree; pin it to where we were started
        args.db = "sqlite:///" + str(Path(args.db[len("sqlite:///") :]).expanduser().resolve())
    if args.make_db and not args.db.startswith("sqlite:///"):
        parser.error("--make-db needs a SQLite URL (sqlite:///PATH)")
    label = _git("describe", "--always", "--dirty") if args.rev is None else _git("rev-parse", "--short", args.rev)
    with checkout(args.rev) as tree:
        check_tree(tree)
        if args.make_db:
            make_db(tree, args.db)
        times = time_runs(tree, args.db, args.runs, args.entry)
    result = {
        "rev": label,
        "median_s": round(statistics.median(times), 4),
        "min_s": round(min(times), 4),
        "runs": len(times),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
