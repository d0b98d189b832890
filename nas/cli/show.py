"""`nas show`: one architecture as text (nodes, cost, results) and as a drawing (png/svg/dot)."""

from __future__ import annotations

import json
import os
import sys

from nas.cli._commands import add_db_option

DRAW_FORMATS = ("png", "svg", "dot")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "show",
        help="describe and draw one architecture (by trial number or hash)",
        description="Print an architecture's nodes, cost and results; with --format/--out, draw it "
        "(png and svg via matplotlib, dot as Graphviz text; no Graphviz binary needed).",
    )
    p.set_defaults(run=run)
    p.add_argument("ref", metavar="TRIAL|HASH", help="a trial number, or an architecture hash or its prefix")
    add_db_option(p)
    p.add_argument(
        "--search", metavar="NAME", help="the search a trial number belongs to (default: the only one that has it)"
    )
    p.add_argument(
        "--format",
        metavar="FORMAT",
        help="draw as png, svg or dot, or json: the description as one JSON object on stdout "
        "(default: from --out's extension; dot without --out prints the DOT text)",
    )
    p.add_argument("--out", metavar="FILE", help="write the drawing here (default: arch-HASH.FORMAT)")
    p.add_argument(
        "--samples",
        type=int,
        metavar="N",
        help="a dense (per-pixel) model: draw input, true and predicted mask of N validation images "
        "to --out (png/svg/pdf; default: none, predictions.png when given)",
    )


def run(args) -> int:
    if args.samples is not None:  # predictions, not the graph (loads torch: nas/cli/_predictions.py)
        from nas.cli import _predictions

        return _predictions.run(args)
    import db
    from nas.cli.train import check_out_file
    from nas.final.evaluate import find_ref
    from nas.ir import Arch
    from nas.viz.draw import draw, to_dot

    fmt = args.format.lower() if args.format else None
    if fmt is None and args.out:
        fmt = os.path.splitext(args.out)[1].lstrip(".").lower()
        if fmt not in DRAW_FORMATS:
            raise ValueError(f"--out {args.out!r}: end it in .png, .svg or .dot, or give --format")
    if fmt is not None and fmt not in (*DRAW_FORMATS, "json"):
        raise ValueError(f"--format {args.format!r}: use png, svg, dot or json")
    if fmt == "json" and args.out:
        raise ValueError("--format json prints to stdout; leave out --out (or redirect: > FILE.json)")
    if args.out:
        check_out_file(args.out, example=f"arch.{fmt}")  # one line naming the path, before anything is read
    store = db.connect(args.db, read_only=True)
    rec, trial = find_ref(store, args.ref, args.search)
    arch = Arch.from_json(rec.canonical_json)
    params, flops = cost_of(rec, trial)
    title = f"{rec.hash[:12]}  ·  {params:,} params  ·  {flops:,} MACs"
    if trial is not None:
        title = f"{trial.search_name} trial {trial.optuna_number}  ·  " + title
    if fmt == "dot" and not args.out:
        sys.stdout.write(to_dot(arch, title=title))
        return 0
    if fmt == "json":
        json.dump(to_record(store, rec, arch, trial), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(describe(store, rec, arch, trial))
    if fmt is not None:
        out = args.out or f"arch-{rec.hash[:12]}.{fmt}"
        if not args.out:
            check_out_file(out, example=f"arch.{fmt}")  # the default name, in the current directory
        draw(arch, out, format=fmt, title=title)
        print(f"\nwrote {out}")
    return 0


def to_record(store, rec, arch, selected=None) -> dict:
    """What `describe` prints, as JSON (README, "JSON output"): the architecture, its cost, its
    nodes, the trials that sampled it and its final evaluations."""
    from nas.final.evaluate import trials_of
    from nas.ir import parse_op
    from nas.viz.draw import skip_edges

    params, flops = cost_of(rec, selected)
    skips = skip_edges(arch)
    kinds = {None: "plain", False: "skip", True: "long_skip"}
    nodes = []
    for i in arch.topological_order():
        n = arch.nodes[i]
        nodes.append(
            {
                "node": i,
                "op": n.op,
                "kind": parse_op(n.op).kind,
                "merge": n.merge if len(n.inputs) > 1 else None,
                "stage": n.stage,
                "width": n.width,
                "inputs": [{"node": j, "edge": kinds[skips.get((j, i))]} for j in n.inputs],
            }
        )

    def when(t):
        return None if t is None else t.isoformat(timespec="seconds")

    return {
        "hash": rec.hash,
        "params": params,
        "flops": flops,
        "summary": rec.summary or {},
        "selected_trial": None
        if selected is None
        else {"search": selected.search_name, "trial": selected.optuna_number},
        "nodes": nodes,
        "trials": [
            {
                "search": t.search_name,
                "trial": t.optuna_number,
                "state": t.state,
                "val_accuracy": t.val_accuracy,
                "test_accuracy_mean": t.test_accuracy_mean,
                "test_accuracy_std": t.test_accuracy_std,
                "test_seeds": t.test_seeds,
                "epochs_run": t.epochs_run,
                "train_seconds": t.train_seconds,
                "finished_at": when(t.finished_at),
            }
            for t in trials_of(store, rec.hash)
        ],
        "evaluations": [
            {
                "search": e.search_name,
                "seed": e.seed,
                "epochs": e.epochs,
                "test_accuracy": e.test_accuracy,
                "test_loss": e.test_loss,
                "created_at": when(e.created_at),
            }
            for e in store.evaluations(rec.hash)
        ],
        "arch": json.loads(rec.canonical_json),
    }


def cost_of(rec, trial=None) -> tuple[int, int]:
    """(params, MACs) for the trial's search's input shape; the architecture's own (those of
    the first search that sampled it) when no trial is named."""
    if trial is not None and trial.params is not None and trial.flops is not None:
        return trial.params, trial.flops
    return rec.params, rec.flops


def shape_text(shape, num_classes) -> str:
    return f"{'x'.join(map(str, shape))} input, {num_classes} classes"


def describe(store, rec, arch, selected=None) -> str:
    """The text summary: identity and cost, the nodes in order, the trials and evaluations."""
    from nas.cli.leaderboard import Fixed
    from nas.cli.table import render
    from nas.final.evaluate import test_cell, trials_of
    from nas.ir import parse_op
    from nas.viz.draw import SUMMARY_LEGEND, compact_summary, skip_edges

    s = rec.summary or {}
    params, flops = cost_of(rec, selected)
    costs = store.costs(rec.hash)
    lines = [
        f"architecture {rec.hash}",
        f"{params:,} params, {flops:,} multiply-accumulates per image (for the search's input shape); "
        f"{s.get('nodes', len(arch.nodes) - 2)} nodes between stem and output",
        f"arch {compact_summary(s)}; {s.get('skips', 0)} skip(s)   ({SUMMARY_LEGEND})",
    ]
    if len(costs) > 1:  # sampled by searches on data of different shapes
        per_shape = "; ".join(
            f"{shape_text(c.input_shape, c.num_classes)}: {c.params:,} params, {c.flops:,} MACs" for c in costs
        )
        lines.append(f"cost per input shape: {per_shape}")
    lines.append("")
    skips = skip_edges(arch)
    nodes = []
    for i in arch.topological_order():
        n = arch.nodes[i]
        merge = n.merge if len(n.inputs) > 1 else "-"
        tags = {None: "", False: " (skip)", True: " (long skip)"}
        inputs = ", ".join(f"{j}{tags[skips.get((j, i))]}" for j in n.inputs) or "-"
        nodes.append([i, n.op, parse_op(n.op).kind, merge, n.stage, n.width, inputs])
    lines.append(render(nodes, ["node", "op", "kind", "merge", "stage", "width", "inputs"], title="nodes (in order)"))
    trials = trials_of(store, rec.hash)
    if trials:
        body = []
        for t in trials:
            mark = "*" if selected is not None and t.id == selected.id else ""
            body.append(
                [
                    f"{t.search_name}{mark}",
                    t.optuna_number,
                    t.state,
                    t.val_accuracy,
                    test_cell(t.test_accuracy_mean, t.test_accuracy_std, t.test_seeds),
                    t.epochs_run,
                    None if t.train_seconds is None else Fixed(t.train_seconds),
                ]
            )
        lines += [
            "",
            render(
                body,
                ["search", "trial", "state", "val_acc", "test_acc", "epochs", "train_s"],
                title="trials of this architecture" + (" (* the one asked for)" if selected else ""),
            ),
        ]
    evals = store.evaluations(rec.hash)
    if evals:
        body = [
            [
                e.search_name or "-",
                e.seed,
                e.epochs,
                e.test_accuracy,
                e.test_loss,
                e.created_at.isoformat(timespec="seconds").replace("T", " ")[:16],
            ]
            for e in evals
        ]
        lines += [
            "",
            render(
                body,
                ["search", "seed", "epochs", "test_acc", "test_loss", "when"],
                title="final evaluations (nas evaluate)",
            ),
        ]
    return "\n".join(lines)
