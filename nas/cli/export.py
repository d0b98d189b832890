"""`nas export`: write a trained architecture as a standalone PyTorch module plus its weights,
or (`--arch FILE.json`) any architecture with fresh weights, without a database."""

from __future__ import annotations

import json
import sys

from nas.cli._commands import add_db_option
from nas.cli.main import info
from nas.final.protocol import FinalConfig


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export an architecture as a standalone PyTorch module with its weights",
        description="Write DIR/model.py (imports only torch; defines Net, CLASSES, MEAN, STD, INPUT_SHAPE and "
        "preprocess), DIR/hubconf.py (torch.hub.load(DIR, 'net', source='local')), DIR/weights.safetensors "
        "and DIR/arch.json (and DIR/model.onnx with --onnx). Weights: those `nas evaluate` stored (final "
        "protocol), else the search's own run; --retrain (or none stored) trains with the final protocol "
        "here. With --arch FILE.json: that architecture with freshly initialised weights (--seed), no "
        "database.",
    )
    p.set_defaults(run=run)
    add_db_option(p)
    p.add_argument("--search", metavar="NAME", help="the search (default: the database's only search)")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--best",
        action="store_true",
        help="the best trial by validation accuracy, never by test accuracy; in a multi-objective search "
        "the Pareto-optimal trial with the best validation accuracy (default)",
    )
    which.add_argument("--trial", type=int, metavar="N", help="trial number N of the search")
    which.add_argument("--hash", metavar="H", help="the architecture with this hash (prefix)")
    which.add_argument(
        "--arch",
        metavar="FILE.json",
        help="export this architecture JSON with fresh (seeded) weights; no database is read",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--force", action="store_true", help="overwrite the export files in a non-empty DIR")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx (pip install onnx onnxscript)")
    p.add_argument("--retrain", action="store_true", help="train with the final protocol instead of stored weights")
    p.add_argument(
        "--epochs",
        type=int,
        default=FinalConfig.epochs,
        help=f"epochs when training here (default: {FinalConfig.epochs})",
    )
    p.add_argument("--seed", type=int, default=0, help="seed when training here, or of --arch's weights (default: 0)")
    p.add_argument(
        "--input-shape",
        metavar="C,H,W",
        help="with --arch: the input shape (default: the --dataset's, else 1,28,28)",
    )
    p.add_argument(
        "--num-classes",
        type=int,
        metavar="K",
        help="with --arch: the number of classes (default: the --dataset's, else 10)",
    )
    p.add_argument(
        "--dataset",
        metavar="NAME",
        help="with --arch: take class names, mean/std (and input shape) from this dataset "
        "(default: classes 0..K-1, mean 0, std 1)",
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="with --arch --dataset: where the dataset's files are (default: the dataset's standard places)",
    )
    p.add_argument("--device", help="device when training here: auto (default), cpu, cuda")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")


ARCH_ONLY = ("input_shape", "num_classes", "dataset", "data_dir")
DB_ONLY = ("search", "retrain", "device")


def run(args) -> int:
    from nas.final.export import export

    if args.arch is not None:
        return run_arch(args)
    given = [f"--{k.replace('_', '-')}" for k in ARCH_ONLY if getattr(args, k) is not None]
    if given:
        raise ValueError(f"{given[0]} is for --arch exports; a search's export takes it from the search")
    check_out(args)
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
        return _print_json(r)
    source = {
        "final_weights": "final-protocol weights from `nas evaluate`",
        "weights": "the search's weights",
        "retrained": "trained now with the final protocol",
    }
    test = "" if r.test_accuracy is None else f", test {r.test_accuracy:.4f} (shown, not chosen on)"
    val = "-" if r.val_accuracy is None else f"{r.val_accuracy:.4f}"
    if r.score != "accuracy":  # a dense model: the fields hold its mIoU
        val = f"{r.score} {val}"
    chosen = {"best validation": f"; chosen by validation {r.score}"}.get(r.selected_by or "", "")
    return _report(
        r,
        f"exported {r.search} trial {r.trial} ({r.arch_hash[:12]}; val {val}{test}{chosen}; "
        f"{source[r.weights_source]})",
    )


def run_arch(args) -> int:
    from nas.final.export import export_arch, parse_shape

    given = [f"--{k}" for k in DB_ONLY if getattr(args, k) not in (None, False)]
    if given:
        raise ValueError(f"{given[0]} is for a search's export; --arch exports fresh weights without a database")
    check_out(args)
    r = export_arch(
        args.arch,
        args.out,
        seed=args.seed,
        input_shape=parse_shape(args.input_shape) if args.input_shape is not None else None,
        num_classes=args.num_classes,
        dataset=args.dataset,
        data_dir=args.data_dir,
        force=args.force,
        onnx=args.onnx,
    )
    if args.json:
        return _print_json(r)
    shape = ",".join(map(str, r.input_shape))
    of = f" of {r.dataset}" if r.dataset else ""
    return _report(
        r,
        f"exported {args.arch} ({r.arch_hash[:12]}; fresh weights, seed {args.seed}; input {shape}, "
        f"{r.num_classes} classes{of}; {r.params:,} params)",
    )


def check_out(args) -> None:
    """--out can be created and written, before the database, the architecture or a training is
    touched: one line naming the path and the fix (`nas.cli.train.check_out_dir`). A non-empty
    --out without --force is refused by the export itself."""
    from nas.cli.train import check_out_dir
    from nas.final.export import FILES

    check_out_dir(args.out, (), force=args.force, replaced=FILES)


def _print_json(r) -> int:
    from nas.final.export import describe

    json.dump(describe(r), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _report(r, what: str) -> int:
    print(f"{what} to {r.out_dir}/: {', '.join(sorted(r.files))}")
    for note in r.notes:
        info(f"note: {note}")
    print(f"load it with: nas.load({r.out_dir!r}), or see the docstring of {r.out_dir}/model.py")
    return 0
