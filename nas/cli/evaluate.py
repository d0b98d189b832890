"""`nas evaluate`: retrain the best architectures with the final protocol and record test accuracy."""

from __future__ import annotations

import argparse
import json
import sys

from nas.cli._commands import add_db_option
from nas.final.protocol import FinalConfig


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="retrain the top architectures (final protocol) and measure test accuracy",
        description="Choose the top-k architectures of a search by validation accuracy (ties: the search's "
        "other objectives), retrain each on the whole training split (the search's training part and "
        "validation hold-out together), once per seed, and evaluate each run once on the test split (which "
        "the search never saw, and which chooses nothing). Every run is recorded; the leaderboard then "
        "shows test accuracy as mean±std.",
    )
    p.set_defaults(run=run)
    add_db_option(p)
    p.add_argument("--search", metavar="NAME", help="the search (default: the database's only search)")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--top",
        type=int,
        default=FinalConfig.top,
        metavar="K",
        help=f"the K best by validation accuracy (default: {FinalConfig.top})",
    )
    which.add_argument(
        "--hash",
        nargs="+",
        default=[],
        metavar="H",
        help="these architectures (hash prefixes) instead of --top (default: none)",
    )
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument(
        "--seeds",
        type=int,
        default=FinalConfig.seeds,
        metavar="N",
        help=f"runs per architecture, seeds 0..N-1 (default: {FinalConfig.seeds})",
    )
    seeds.add_argument(
        "--seed-list", metavar="S,S,...", help="exactly these seeds, e.g. 0,1,7 (default: 0..N-1 from --seeds)"
    )
    p.add_argument(
        "--epochs", type=int, default=FinalConfig.epochs, help=f"epochs per run (default: {FinalConfig.epochs})"
    )
    p.add_argument("--dataset", help="default: the search's dataset")
    p.add_argument("--data-dir", help="default: the search's data directory")
    p.add_argument("--batch-size", type=int, help="default: the search's")
    p.add_argument("--lr", type=float, help="default: the search's")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument(
        "--save-weights",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="store the first seed's weights as 'final_weights' for `nas export` (default: yes)",
    )
    p.add_argument("--format", default="table", metavar="FORMAT", help="table (default) or json")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def parse_seeds(args) -> list[int]:
    if args.seed_list:
        try:
            seeds = [int(s) for s in args.seed_list.split(",") if s.strip()]
        except ValueError:
            seeds = []
        if not seeds or min(seeds) < 0:
            raise ValueError(f"--seed-list {args.seed_list!r}: use non-negative integers such as 0,1,2")
        return seeds
    if args.seeds < 1:
        raise ValueError(f"--seeds {args.seeds}: must be a positive integer")
    return list(range(args.seeds))


def run(args) -> int:
    from nas.cli.leaderboard import Fixed, check_format
    from nas.cli.table import render
    from nas.final.evaluate import run_evaluation, test_cell

    fmt = check_format(args.format, ("table", "json"))
    seeds = parse_seeds(args)
    results = run_evaluation(
        args.db,  # a URL: every option is checked read-only before the database is opened for writing
        args.search,
        top=None if args.hash else args.top,
        hashes=args.hash,
        seeds=seeds,
        epochs=args.epochs,
        dataset=args.dataset,
        data_dir=args.data_dir,
        device=args.device,
        batch_size=args.batch_size,
        lr=args.lr,
        save_weights=args.save_weights,
        progress=not args.no_progress,
    )
    if fmt == "json":
        json.dump([r.to_dict() for r in results], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    rows = [
        [
            r.val_rank,
            r.trial,
            r.arch_hash[:8],
            r.val_accuracy,
            test_cell(r.mean, r.std, len(r.accuracies)),
            " ".join(f"{a:.4f}" for a in r.accuracies),
            r.params,
            Fixed(r.train_seconds),
            "yes" if r.recorded else "no",
        ]
        for r in results
    ]
    search = results[0].search if results else args.search
    score = _score(args.db, search)  # accuracy, or mIoU for a dense search
    chosen = f"the top {args.top} by validation {score.words}" if not args.hash else "the architectures of --hash"
    print(
        render(
            rows,
            ["val_rank", "trial", "hash", score.val, score.test, "per seed", "params", "train_s", "recorded"],
            title=f"final evaluation of {search!r}: {chosen}, each retrained for {args.epochs} epoch(s) on the "
            f"whole training split, seeds {','.join(map(str, seeds))}",
        )
    )
    if results:
        sources = results[0].sources
        print()
        print(f"chosen by:  {sources['selection']}")
        print(f"{score.val + ':':<11} {sources['val_accuracy']}")
        print(f"retrained:  {sources['training']}")
        print(f"{score.test + ':':<11} {sources['test_accuracy']} (per seed: each run's, in seed order)")
    return 0


def _score(url: str, search: str | None):
    """The name of the search's score (`nas.final.scores`), read through a read-only connection."""
    import db
    from nas.final.scores import ACCURACY, search_score

    if not search:
        return ACCURACY
    with db.connect(url, read_only=True) as store:
        return search_score(store, search)
