"""`nas leaderboard`: ranked trials of a search (table for people; JSON or CSV for scripts)."""

from __future__ import annotations

import csv
import io
import json
import sys

from nas.cli._commands import add_db_option

FORMATS = ("table", "json", "csv")
#: Columns of the JSON and CSV output, in order (the table shows the same, abridged).
COLUMNS = (
    "rank",
    "search",
    "trial",
    "hash",
    "val_accuracy",
    "best_val_accuracy",
    "test_accuracy",
    "test_std",
    "test_seeds",
    "params",
    "flops",
    "epochs",
    "train_seconds",
    "state",
    "arch",
    "summary",
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "leaderboard",
        help="ranked trials of a search",
        description="Ranked trials of a search: validation accuracy (what the search selected on), test "
        "accuracy where `nas evaluate` measured it (mean±std over seeds; shown, never chosen on), cost and "
        "a compact summary of each architecture.",
    )
    p.set_defaults(run=run)
    add_db_option(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--search", metavar="NAME", help="the search (default: the database's only search)")
    which.add_argument("--all", action="store_true", help="rank the trials of every search together")
    p.add_argument("--top", type=int, metavar="N", help="show the first N rows (default: all)")
    p.add_argument(
        "--sort",
        default="val_accuracy",
        metavar="METRIC",
        help="the display order: val_accuracy (default), test_accuracy, params, flops or train_seconds; "
        "sorting by test_accuracy only orders what is shown (nas evaluate and nas export --best choose by "
        "validation)",
    )
    p.add_argument(
        "--pareto", action="store_true", help="only the Pareto front of validation accuracy (max) vs params (min)"
    )
    p.add_argument("--format", default="table", metavar="FORMAT", help="table (default), json or csv")


def check_format(value: str, formats=FORMATS) -> str:
    if value not in formats:
        raise ValueError(f"--format {value!r}: use {', '.join(formats[:-1])} or {formats[-1]}")
    return value


def run(args) -> int:
    import db
    from db import SORT_KEYS
    from nas.final.evaluate import resolve_search

    fmt = check_format(args.format)
    if args.sort not in SORT_KEYS:
        raise ValueError(f"--sort {args.sort!r}: use one of {', '.join(SORT_KEYS)}")
    if args.top is not None and args.top < 1:
        raise ValueError(f"--top {args.top}: must be a positive integer")
    store = db.connect(args.db, read_only=True)
    name = None if args.all else resolve_search(store, args.search, allow_all=True)
    rows = store.leaderboard(name, top=args.top, sort=args.sort, pareto=args.pareto)
    records = [record(r) for r in rows]
    if fmt == "json":
        json.dump(records, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif fmt == "csv":
        sys.stdout.write(to_csv(records, COLUMNS))
    else:
        from nas.final.scores import search_score

        print(table(rows, name=name, sort=args.sort, pareto=args.pareto, score=search_score(store, name)))
    return 0


def record(r) -> dict:
    """One leaderboard row as the JSON/CSV record (full hash, full summary)."""
    from nas.viz.draw import compact_summary

    return {
        "rank": r.rank,
        "search": r.search,
        "trial": r.trial,
        "hash": r.hash,
        "val_accuracy": r.val_accuracy,
        "best_val_accuracy": r.best_val_accuracy,
        "test_accuracy": r.test_accuracy,
        "test_std": r.test_std,
        "test_seeds": r.test_seeds,
        "params": r.params,
        "flops": r.flops,
        "epochs": r.epochs_run,
        "train_seconds": r.train_seconds,
        "state": r.state,
        "arch": compact_summary(r.summary),
        "summary": r.summary,
    }


def to_csv(records: list[dict], columns) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    w.writeheader()
    for rec in records:
        w.writerow(
            {
                k: json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else ("" if v is None else v)
                for k, v in rec.items()
            }
        )
    return buf.getvalue()


class Fixed(float):
    """A float the table prints with one decimal (and still right-aligns as a number)."""

    def __format__(self, spec: str) -> str:
        return f"{float(self):.1f}"


def table(rows, *, name: str | None, sort: str, pareto: bool, score=None) -> str:
    """`score` (`nas.final.scores`) names the search's score: validation accuracy, or mIoU for
    dense prediction (the rows' val_accuracy/test_accuracy fields hold it)."""
    from nas.cli.table import render
    from nas.final.evaluate import test_cell
    from nas.final.scores import ACCURACY
    from nas.viz.draw import SUMMARY_LEGEND, compact_summary

    score = score or ACCURACY

    what = f"search {name!r}" if name else "all searches"
    order = f"{sort} (display only)" if sort == "test_accuracy" else sort
    if score is not ACCURACY:  # the field holds the search's score
        order = order.replace("val_accuracy", score.objective).replace("test_accuracy", f"test_{score.short}")
    front = f", Pareto front (val {score.words} vs params)" if pareto else ""
    title = f"{what}: {len(rows)} trial(s) by {order}" + front
    if not rows:
        return f"{title}\nno completed trials yet"
    headers = (["search"] if name is None else []) + [
        "rank",
        "trial",
        "hash",
        score.val,
        score.test,
        "params",
        "flops",
        "epochs",
        "train_s",
        "arch",
    ]
    body = []
    for r in rows:
        trial = r.trial if r.state != "duplicate" else f"{r.trial} (dup)"
        body.append(
            ([r.search] if name is None else [])
            + [
                r.rank,
                trial,
                r.hash[:8],
                r.val_accuracy,
                test_cell(r.test_accuracy, r.test_std, r.test_seeds),
                r.params,
                r.flops,
                r.epochs_run,
                None if r.train_seconds is None else Fixed(r.train_seconds),
                compact_summary(r.summary),
            ]
        )
    notes = [
        SUMMARY_LEGEND,
        f"{score.val}: the search's validation hold-out of the training split (what selection uses)",
        f"{score.test}: test split, mean±std over seeds (count) from `nas evaluate`; - = not evaluated; never "
        "used to choose",
    ]
    if score is not ACCURACY:
        notes.append("miou: mean intersection-over-union per pixel, over the classes present in the split")
    if sort == "test_accuracy":
        notes.append(
            f"sorted by {score.test} for display only: `nas evaluate --top` and `nas export --best` choose by "
            f"{score.val}"
        )
    return render(body, headers, title=title) + "\n\n" + "\n".join(notes)
