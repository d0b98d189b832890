"""`nas search --format json` (or `--json`): one JSON object on stdout when the search ends.

The schema (every key always present; README, "JSON output"):

    {"search": str, "status": "finished" | "interrupted" | ..., "db": str (password hidden),
     "requested_trials": int | null, "counts": {state: int}, "trained_this_run": int,
     "elapsed_seconds": float,
     "best": null | {"trial": int, "hash": str, "val_accuracy": float, "params": int, "flops": int}}

The human summary still goes to stderr, and no table is printed, so `nas search --json | jq .best`
reads the result.
"""

from __future__ import annotations

import json
import sys
from typing import Any

FORMATS = ("table", "json")


def add_options(parser: Any) -> None:
    g = parser.add_argument_group("output")
    g.add_argument(
        "--format",
        metavar="FORMAT",
        help="table: a leaderboard of the top 10; json: one JSON object on stdout (default: table)",
    )
    g.add_argument(
        "--json", dest="format", action="store_const", const="json", help="the same as --format json (default: table)"
    )


def output_format(args: Any) -> str:
    fmt = getattr(args, "format", None) or "table"
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt!r}: use table or json")
    return fmt


def hide_password(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy parses: shown as given
        return url


def record(summary: Any) -> dict[str, Any]:
    """The JSON object for a `SearchSummary`."""
    return {
        "search": summary.name,
        "status": summary.status,
        "db": hide_password(summary.db),
        "requested_trials": summary.requested,
        "counts": dict(sorted(summary.counts.items())),
        "trained_this_run": summary.ran_this_time,
        "elapsed_seconds": round(summary.elapsed_seconds, 3),
        "trials_per_minute": None if summary.trials_per_minute is None else round(summary.trials_per_minute, 3),
        "best": summary.best,
    }


def print_json(summary: Any) -> None:
    counts = ", ".join(f"{v} {k}" for k, v in sorted(summary.counts.items())) or "no trials"
    from nas.cli.main import info

    info(f"search {summary.name!r}: {counts}; {summary.ran_this_time} trained this run")
    sys.stdout.write(json.dumps(record(summary)) + "\n")
