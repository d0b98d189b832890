"""`nas search`: run or resume a named search."""

from __future__ import annotations

import json
import sys

from nas.cli._commands import add_db_option


def add_parser(sub) -> None:
    p = sub.add_parser(
        "search",
        help="run or resume a named architecture search",
        description="Run a search; running it again with the same --name resumes it.",
    )
    p.set_defaults(run=run)
    g = p.add_argument_group("naming and storage")
    g.add_argument("--name", default=None, help="search name (default: SPACE-DATASET); reuse it to resume")
    add_db_option(g)
    g = p.add_argument_group("what to search")
    g.add_argument("--space", default="skipdag", help="search space (default: skipdag)")
    g.add_argument("--space-config", metavar="FILE", help="space options from a .toml or .yaml file")
    g.add_argument(
        "--space-option",
        metavar="KEY=JSON",
        action="append",
        default=[],
        help="override one space option, e.g. depth=[1,2] (repeatable)",
    )
    g.add_argument(
        "--dataset",
        default="fashion-mnist",
        help="fashion-mnist (default), mnist, cifar10, imagefolder:PATH, npz:PATH, synthetic",
    )
    g.add_argument("--data-dir", help="where the dataset files are (else NAS_DATA_DIR, standard places)")
    g.add_argument("--subset", type=int, help="search on a stratified subset of this many training images")
    g.add_argument("--val-fraction", type=float, default=0.1, help="validation hold-out (default: 0.1)")
    g.add_argument("--image-size", type=int, help="resize images to this size (imagefolder)")
    g = p.add_argument_group("budget and strategy")
    g.add_argument("--trials", type=int, default=None, help="total trials of the named search (default: 20)")
    g.add_argument("--time-budget", metavar="DURATION", help="stop starting trials after e.g. 90s, 30m, 2h")
    g.add_argument("--sampler", default="tpe", help="tpe (default), random, cmaes, nsga2, gp, qmc")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument(
        "--objectives",
        default="val_accuracy",
        help="val_accuracy (default) or a comma list such as val_accuracy,params (multi-objective)",
    )
    g = p.add_argument_group("trial budget")
    g.add_argument("--epochs", type=int, default=3, help="epochs per trial (default: 3)")
    g.add_argument("--train-fraction", type=float, help="fraction of the training split each trial uses")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--lr", type=float, help="peak learning rate")
    g.add_argument(
        "--trial-timeout",
        metavar="DURATION",
        help="wall-time cap per trial, e.g. 5m (the trial stops after the epoch that crosses it)",
    )
    g.add_argument("--pruner", default="asha", help="asha (default), median, none")
    g = p.add_argument_group("execution")
    g.add_argument("--concurrency", type=int, help="trials at once (default: what the resources allow)")
    g.add_argument("--gpus-per-trial", type=float, help="e.g. 0.25 packs four trials per GPU (default: 1 if GPUs)")
    g.add_argument("--cpus-per-trial", type=float, default=1.0)
    g.add_argument("--address", help="Ray cluster address (default: start Ray on this machine)")
    g.add_argument("--executor", default="ray", help="ray (default) or local (in-process, one at a time)")
    g = p.add_argument_group("constraints and artifacts")
    g.add_argument("--max-params", type=int, help="architectures with more parameters are not trained")
    g.add_argument("--max-flops", type=int, help="limit on multiply-accumulates per image")
    g.add_argument("--save-weights", default="all", help="all (default) or none")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from_args(args):
    """The SearchConfig the options describe (raises ConfigError/SpaceConfigError)."""
    from nas.search.config import ConfigError, SearchConfig, parse_duration
    from search_spaces import get

    options = {}
    for item in args.space_option:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--space-option {item!r}: use KEY=JSON, e.g. depth=[1,2]")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    space = get(args.space, config_file=args.space_config, **options)  # validates early
    train = {"epochs": args.epochs}
    for key in ("train_fraction", "batch_size", "lr"):
        if getattr(args, key) is not None:
            train[key] = getattr(args, key)
    if args.trial_timeout:
        train["max_seconds"] = parse_duration(args.trial_timeout)
    trials = args.trials if args.trials is not None else (None if args.time_budget else 20)
    return SearchConfig(
        name=args.name or f"{args.space}-{args.dataset.split(':')[0]}",
        db=args.db,
        space=args.space,
        space_options=space.options_dict(),
        dataset=args.dataset,
        data_dir=args.data_dir,
        subset=args.subset,
        val_fraction=args.val_fraction,
        image_size=args.image_size,
        trials=trials,
        time_budget=parse_duration(args.time_budget) if args.time_budget else None,
        sampler=args.sampler,
        seed=args.seed,
        objectives=tuple(args.objectives.split(",")),
        train=train,
        pruner=args.pruner,
        executor=args.executor,
        concurrency=args.concurrency,
        gpus_per_trial=args.gpus_per_trial,
        cpus_per_trial=args.cpus_per_trial,
        address=args.address,
        max_params=args.max_params,
        max_flops=args.max_flops,
        save_weights=args.save_weights,
    )


def run(args) -> int:
    from nas.search.driver import run_search

    config = config_from_args(args)
    summary = run_search(config, progress=not args.no_progress)
    print_summary(summary, config)
    return 0


def print_summary(summary, config) -> None:
    import db
    from nas.cli.table import render

    counts = ", ".join(f"{v} {k}" for k, v in sorted(summary.counts.items())) or "no trials"
    print(
        f"\nsearch {summary.name!r}: {counts}; {summary.ran_this_time} trained this run in "
        f"{summary.elapsed_seconds:.0f}s",
        file=sys.stderr,
    )
    if summary.ran_this_time == 0 and summary.requested is not None:
        print(
            f"(the search already had its {summary.requested} trials: --trials is the total of a named "
            f"search, so raise it to go on, or pass a new --name)",
            file=sys.stderr,
        )
    rows = db.connect(config.db).leaderboard(config.name, top=10)
    if rows:
        print(
            render(
                [
                    (r.rank, r.trial, r.hash[:8], r.val_accuracy, r.params, r.flops, r.epochs_run, r.train_seconds)
                    for r in rows
                ],
                ["rank", "trial", "hash", "val_acc", "params", "flops", "epochs", "train_s"],
                title=f"top {len(rows)} of {summary.name} (validation accuracy)",
            )
        )
    else:
        print("no completed trials yet", file=sys.stderr)
