"""`nas searches`: the searches in a database, their trial counts, state and best result."""

from __future__ import annotations

import json
import sys

from nas.cli._commands import add_db_option

#: Trial states shown as columns (running is shown when any trial is).
COUNTED = ("complete", "pruned", "failed", "duplicate", "infeasible", "interrupted")
#: Columns of the JSON and CSV output.
COLUMNS = (
    ("name", "space", "dataset", "status", "trials", "running")
    + COUNTED
    + ("best_val_accuracy", "best_test_accuracy", "created_at", "updated_at")
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "searches",
        help="list the searches in the database",
        description="Every search with its trial counts per state, status and best result.",
    )
    p.set_defaults(run=run)
    add_db_option(p)
    p.add_argument("--format", default="table", metavar="FORMAT", help="table (default), json or csv")


def record(s) -> dict:
    """One search as the JSON/CSV record (keys in `COLUMNS` order)."""
    return {
        "name": s.name,
        "space": s.space,
        "dataset": s.dataset,
        "status": s.status,
        "trials": s.n_trials,
        **{state: s.counts.get(state, 0) for state in ("running",) + COUNTED},
        "best_val_accuracy": s.best_val_accuracy,
        "best_test_accuracy": s.best_test_accuracy,
        "created_at": s.created_at.isoformat(timespec="seconds"),
        "updated_at": s.updated_at.isoformat(timespec="seconds"),
    }


def run(args) -> int:
    import db
    from nas.cli.leaderboard import check_format, to_csv
    from nas.cli.table import render

    fmt = check_format(args.format)
    store = db.connect(args.db, read_only=True)
    summaries = store.list_searches()
    records = [record(s) for s in summaries]
    if fmt == "json":
        json.dump(records, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if fmt == "csv":
        sys.stdout.write(to_csv(records, COLUMNS))
        return 0
    if not records:
        print(f"{store.display_url} holds no searches yet; run `nas search`")
        return 0
    running = any(r["running"] for r in records)
    states = (("running",) if running else ()) + COUNTED
    short = {"duplicate": "dup", "infeasible": "infeas", "interrupted": "interr"}
    headers = (
        ["name", "space", "dataset", "status", "trials"]
        + [short.get(s, s) for s in states]
        + ["best_val", "best_test", "updated"]
    )
    rows = [
        [r["name"], r["space"], r["dataset"], r["status"], r["trials"]]
        + [r[s] for s in states]
        + [r["best_val_accuracy"], r["best_test_accuracy"], r["updated_at"].replace("T", " ")[:16]]
        for r in records
    ]
    print(render(rows, headers, title=f"{len(rows)} search(es) in {store.display_url}"))
    return 0
