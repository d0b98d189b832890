"""`nas export`: write a trained architecture as a standalone PyTorch module plus its weights."""

from __future__ import annotations

import json
import sys

from nas.cli._commands import add_db_option


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export an architecture as a standalone PyTorch module with its weights",
        description="Write DIR/model.py (imports only torch), DIR/weights.safetensors and DIR/arch.json "
        "(and DIR/model.onnx with --onnx). Weights: those `nas evaluate` stored (final protocol), else "
        "the search's own run; --retrain (or none stored) trains with the final protocol here.",
    )
    p.set_defaults(run=run)
    add_db_option(p)
    p.add_argument("--search", metavar="NAME", help="the search (default: the database's only search)")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--best",
        action="store_true",
        help="the best trial: by test accuracy where evaluated, else by validation accuracy (default)",
    )
    which.add_argument("--trial", type=int, metavar="N", help="trial number N of the search")
    which.add_argument("--hash", metavar="H", help="the architecture with this hash (prefix)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--force", action="store_true", help="overwrite the export files in a non-empty DIR")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx (pip install onnx onnxscript)")
    p.add_argument("--retrain", action="store_true", help="train with the final protocol instead of stored weights")
    p.add_argument("--epochs", type=int, default=30, help="epochs when training here (default: 30)")
    p.add_argument("--seed", type=int, default=0, help="seed when training here (default: 0)")
    p.add_argument("--device", help="device when training here: auto (default), cpu, cuda")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")


def run(args) -> int:
    from nas.final.export import describe, export

    r = export(
        args.db,
        args.out,
        search=args.search,
        trial=args.trial,
        hash=args.hash,
        best=args.best,
        force=args.force,
        onnx=args.onnx,
        retrain=args.retrain,
        epochs=args.epochs,
        seed=args.seed,
        device=args.device,
        progress=True,
    )
    if args.json:
        json.dump(describe(r), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    source = {
        "final_weights": "final-protocol weights from `nas evaluate`",
        "weights": "the search's weights",
        "retrained": "trained now with the final protocol",
    }
    test = "" if r.test_accuracy is None else f", test {r.test_accuracy:.4f}"
    val = "-" if r.val_accuracy is None else f"{r.val_accuracy:.4f}"
    print(
        f"exported {r.search} trial {r.trial} ({r.arch_hash[:12]}; val {val}{test}; "
        f"{source[r.weights_source]}) to {r.out_dir}/: {', '.join(sorted(r.files))}"
    )
    for note in r.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"load it with: nas.load({r.out_dir!r}), or see the docstring of {r.out_dir}/model.py")
    return 0
