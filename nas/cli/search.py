"""`nas search`: run or resume a named search."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import TYPE_CHECKING, Any

from nas.cli import _config_file, _search_json
from nas.cli._commands import field_default, field_option

if TYPE_CHECKING:
    from nas.search.config import SearchConfig


#: (flag, SearchConfig field, extra argparse keywords), by help group. Help texts and defaults
#: come from the fields themselves (nas/search/config.py).
_SEARCH_OPTIONS: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "naming and storage": [("--name", "name", {}), ("--db", "db", {})],
    "what to search": [
        ("--space", "space", {}),
        ("--dataset", "dataset", {}),
        ("--data-dir", "data_dir", {}),
        ("--subset", "subset", {"type": int}),
        ("--val-fraction", "val_fraction", {"type": float}),
        ("--image-size", "image_size", {"type": int}),
    ],
    "budget and strategy": [
        ("--trials", "trials", {"type": int, "default_text": "20, or no limit with --time-budget"}),
        (
            "--time-budget",
            "time_budget",
            {"metavar": "DURATION", "help": "stop starting trials after e.g. 90s, 30m, 2h"},
        ),
        ("--sampler", "sampler", {}),
        ("--seed", "seed", {"type": int}),
        ("--objectives", "objectives", {}),
        ("--pruner", "pruner", {}),
        ("--prescreen", "prescreen", {"type": int, "metavar": "K", "default_text": "off"}),
        ("--proxy", "proxy", {}),
    ],
    "execution": [
        ("--concurrency", "concurrency", {"type": int}),
        ("--gpus-per-trial", "gpus_per_trial", {"type": float}),
        ("--cpus-per-trial", "cpus_per_trial", {"type": float}),
        ("--address", "address", {}),
        ("--executor", "executor", {}),
    ],
    "constraints and artifacts": [
        ("--max-params", "max_params", {"type": int}),
        ("--max-flops", "max_flops", {"type": int}),
        ("--save-weights", "save_weights", {}),
    ],
    "tracking": [
        ("--tensorboard", "tensorboard", {"metavar": "DIR"}),
        ("--mlflow", "mlflow", {"metavar": "URI"}),
    ],
}
#: (flag, TrainConfig field, extra argparse keywords): how each trial trains.
_TRAIN_OPTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("--epochs", "epochs", {"type": int, "help": "epochs per trial"}),
    ("--train-fraction", "train_fraction", {"type": float}),
    ("--batch-size", "batch_size", {"type": int}),
    ("--lr", "lr", {"type": float}),
    ("--loss", "loss", {"metavar": "ce|dice|ce+dice"}),  # choices: workers.records.LOSSES
    (
        "--trial-timeout",
        "max_seconds",
        {
            "metavar": "DURATION",
            "help": "wall-time cap per trial, e.g. 5m (the trial stops after the epoch that crosses it)",
            "default_text": "none",
        },
    ),
]


def add_parser(sub: Any) -> None:
    from nas.search.config import SearchConfig
    from workers.records import TrainConfig

    p = sub.add_parser(
        "search",
        help="run or resume a named architecture search",
        description="Run a search; running it again with the same --name resumes it.",
    )
    p.set_defaults(run=run)
    for title, options in _SEARCH_OPTIONS.items():
        g = p.add_argument_group(title)
        for flag, name, kw in options:
            field_option(g, flag, SearchConfig, name, **kw)
        if title == "what to search":
            g.add_argument(
                "--space-config",
                metavar="FILE",
                help="space options from a .toml or .yaml file (default: the space's defaults)",
            )
            g.add_argument(
                "--space-option",
                metavar="KEY=JSON",
                action="append",
                default=[],
                help="override one space option, e.g. depth=[1,2] (repeatable; default: none)",
            )
    g = p.add_argument_group("trial budget")
    from workers.records import LOSSES

    for flag, name, kw in _TRAIN_OPTIONS:
        extra = {"choices": LOSSES} if name == "loss" else {}
        field_option(g, flag, TrainConfig, name, dest=f"train_{name}", **kw, **extra)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = p.add_argument_group("known designs to try first")
    g.add_argument(
        "--enqueue-preset",
        metavar="NAME",
        action="append",
        default=[],
        help="a design of the space (e.g. resnet_32_64_128) or a preset (e.g. resnet18, built for the "
        "dataset's images); repeatable (default: none)",
    )
    g.add_argument(
        "--enqueue",
        metavar="FILE",
        action="append",
        default=[],
        help="an architecture JSON (nas sample --out) or the space's params as JSON; repeatable (default: none)",
    )
    _config_file.add_options(p)  # --config FILE.toml, --dump-config
    _search_json.add_options(p)  # --format table|json, --json


def config_from_args(args: argparse.Namespace) -> SearchConfig:
    """The SearchConfig the options describe: options not given keep the record's defaults.

    Raises:
        ConfigError, SpaceConfigError: a bad value, named with its flag.
    """
    from nas.search.config import ConfigError, SearchConfig, parse_duration
    from search_spaces import get

    _config_file.apply(args)  # --config FILE: fills what the command line did not give
    _check_finite(args)
    options = {}
    for item in args.space_option:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--space-option {item!r}: use KEY=JSON, e.g. depth=[1,2]")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    given = {
        name: getattr(args, name)
        for opts in _SEARCH_OPTIONS.values()
        for _, name, _ in opts
        if getattr(args, name) is not None
    }
    space = get(given.get("space") or _default("space"), config_file=args.space_config, **options)
    given["space_options"] = space.options_dict()  # validated early, before anything is written
    if "time_budget" in given:
        given["time_budget"] = parse_duration(given["time_budget"], "--time-budget")
        given.setdefault("trials", None)  # a time budget alone sets no trial limit
    if "objectives" in given:
        given["objectives"] = tuple(given["objectives"].split(","))
    train = {name: getattr(args, f"train_{name}") for _, name, _ in _TRAIN_OPTIONS}
    if train["max_seconds"] is not None:
        train["max_seconds"] = parse_duration(train["max_seconds"], "--trial-timeout")
    given["train"] = {**args.config_train, **{k: v for k, v in train.items() if v is not None}}
    try:
        return SearchConfig(**given)
    except ConfigError as e:
        raise ConfigError(_flag_named(str(e))) from None


def _check_finite(args: argparse.Namespace) -> None:
    """nan and inf parse as floats; no float option means them (`--lr inf` would train on NaNs)."""
    from nas.search.config import ConfigError

    for options, prefix in [*((o, "") for o in _SEARCH_OPTIONS.values()), (_TRAIN_OPTIONS, "train_")]:
        for flag, name, kw in options:
            value = getattr(args, prefix + name, None)
            if kw.get("type") is float and value is not None and not math.isfinite(value):
                raise ConfigError(f"{flag} {value}: use a finite number (see `nas search --help`)")


def _flag_named(message: str) -> str:
    """A TrainConfig error names the field ('TrainConfig.epochs=0 is invalid: ...'); say the flag
    the user typed instead ('--epochs 0 is invalid: ...')."""
    flags = {name: flag for flag, name, _ in _TRAIN_OPTIONS}
    field, sep, rest = message.removeprefix("TrainConfig.").partition("=")
    if message.startswith("TrainConfig.") and sep and field in flags:
        value, _, why = rest.partition(" ")
        return f"{flags[field]} {value} {why}"
    return message


def _default(name: str) -> Any:
    from nas.search.config import SearchConfig

    return field_default(SearchConfig, name)


def run(args) -> int:
    from nas.search.driver import run_search

    config = config_from_args(args)
    fmt = _search_json.output_format(args)
    if args.dump_config:
        sys.stdout.write(_config_file.to_toml(config))
        return 0
    from nas.search.enqueue import resolve
    from search_spaces import get

    space = get(config.space, **config.space_options)
    items = resolve(space, args.enqueue_preset, args.enqueue)  # checked before anything is written
    draw = None
    if config.tensorboard:  # the architecture as DOT and as an image too (nas.search may not import nas.viz)
        from nas.viz.draw import tracker_drawing as draw
    summary = run_search(config, progress=not args.no_progress, draw=draw, enqueue=items)
    if fmt == "json":
        _search_json.print_json(summary)
    else:
        print_summary(summary, config)
    return 0


def print_summary(summary, config) -> None:
    import db
    from nas.cli.leaderboard import Fixed
    from nas.cli.main import info
    from nas.cli.table import render

    counts = ", ".join(f"{v} {k}" for k, v in sorted(summary.counts.items())) or "no trials"
    rate = "" if summary.trials_per_minute is None else f" ({summary.trials_per_minute:.2f} trials/minute)"
    info(
        f"\nsearch {summary.name!r}: {counts}; {summary.ran_this_time} trained this run in "
        f"{summary.elapsed_seconds:.0f}s{rate}",
    )
    if summary.ran_this_time == 0 and summary.requested is not None:
        info(
            f"(the search already had its {summary.requested} trials: --trials is the total of a named "
            f"search, so raise it to go on, or pass a new --name)",
        )
    rows = db.connect(config.db).leaderboard(config.name, top=10)
    from nas.final.scores import score_of

    score = score_of(config.objectives)  # accuracy, or mIoU for a dense search
    if rows:
        print(
            render(
                [
                    (
                        r.rank,
                        r.trial,
                        r.hash[:8],
                        r.val_accuracy,
                        r.params,
                        r.flops,
                        r.epochs_run,
                        None if r.train_seconds is None else Fixed(r.train_seconds),
                    )
                    for r in rows
                ],
                ["rank", "trial", "hash", score.val, "params", "flops", "epochs", "train_s"],
                title=f"top {len(rows)} of {summary.name} (validation {score.words})",
            )
        )
    else:
        info("no completed trials yet")
