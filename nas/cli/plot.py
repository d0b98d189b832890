"""`nas plot`: PNG plots of a search (history, accuracy vs size with the Pareto front, op kinds)."""

from __future__ import annotations

from nas.cli._commands import add_db_option


def add_parser(sub) -> None:
    p = sub.add_parser(
        "plot",
        help="plot a search: history, accuracy vs params (Pareto front), op kinds",
        description="Write history.png (validation accuracy per trial, running best, pruned/failed marked), "
        "pareto.png (validation accuracy vs params, Pareto front) and ops.png (op kinds and merges among "
        "the top 10%% vs all trials).",
    )
    p.set_defaults(run=run)
    add_db_option(p)
    p.add_argument("--search", metavar="NAME", help="the search (default: the database's only search)")
    p.add_argument("--out", metavar="DIR", help="output directory (default: plots/SEARCH)")


def run(args) -> int:
    import os

    import db
    from nas.final.evaluate import resolve_search
    from nas.viz.plots import plot_search

    store = db.connect(args.db, create=False)
    name = resolve_search(store, args.search)
    out = args.out or os.path.join("plots", name.replace(":", "_"))
    for path in plot_search(store, name, out):
        print(f"wrote {path}")
    return 0
