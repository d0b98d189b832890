"""`nas plot`: plots of a search, one file per kind (Optuna's where it has one, `nas.viz.plots`)."""

from __future__ import annotations

from nas.cli._commands import add_db_option


def add_parser(sub) -> None:
    from nas.viz.plots import DEFAULT_DPI, DEFAULT_KINDS, FORMATS, KINDS, MIN_DPI

    p = sub.add_parser(
        "plot",
        help="plot a search: history, Pareto front, importances, learning curves, op kinds",
        description="Write one file per plot kind, KIND.FORMAT, into --out. Kinds: history (Optuna's "
        "optimisation history: validation accuracy per completed trial, running best); pareto (validation "
        "accuracy vs params with the Pareto front: Optuna's for a multi-objective search, ours for a "
        "single-objective one); importance (Optuna's parameter importances, PED-ANOVA; at least 2 completed "
        "trials); intermediate (Optuna's intermediate values: per-epoch validation accuracy, for searches that "
        "prune); ops (op kinds and merges among the top 10% vs all trials). With --kind all, kinds the search "
        "cannot give yet are skipped with a note.",
    )
    p.set_defaults(run=run)
    add_db_option(p)
    p.add_argument("--search", metavar="NAME", help="the search (default: the database's only search)")
    p.add_argument("--out", metavar="DIR", help="output directory (default: plots/SEARCH)")
    p.add_argument(
        "--kind",
        action="append",
        metavar="KIND",
        help=f"{', '.join(KINDS)} or all; repeatable or a comma list (default: {','.join(DEFAULT_KINDS)})",
    )
    p.add_argument("--format", dest="fmt", default="png", choices=FORMATS, help=f"{', '.join(FORMATS)} (default: png)")
    p.add_argument(
        "--dpi",
        type=float,
        default=DEFAULT_DPI,
        help=f"resolution of PNGs and of images inside SVG/PDF; at least {MIN_DPI} (default: {DEFAULT_DPI})",
    )


def run(args) -> int:
    import os
    import sys

    import db
    from nas.cli.train import check_out_dir
    from nas.final.evaluate import resolve_search
    from nas.viz.plots import check_dpi, parse_kinds, plot_search

    kinds = parse_kinds(args.kind)  # bad options fail before the database is opened
    check_dpi(args.dpi)
    dpi = int(args.dpi) if float(args.dpi).is_integer() else args.dpi
    every = any(part.strip().lower() == "all" for value in args.kind or () for part in value.split(","))
    store = db.connect(args.db, read_only=True)  # never creates, migrates or writes
    try:
        name = resolve_search(store, args.search)
        out = args.out or os.path.join("plots", name.replace(":", "_"))
        check_out_dir(out, [f"{kind}.{args.fmt}" for kind in kinds], force=True)  # one line, before drawing

        def skipped(kind: str, reason: str) -> None:
            print(f"nas: skipped {kind}: {reason}", file=sys.stderr)

        for path in plot_search(
            store, name, out, kinds, fmt=args.fmt, dpi=dpi, skip_unavailable=every, on_skip=skipped
        ):
            print(f"wrote {path}")
    finally:
        store.close()
    return 0
