"""`nas search --config FILE.toml` and `nas search --dump-config`.

A config file sets any option of `nas search`: a key is the flag without its dashes (``batch-size``
or ``batch_size``), a `SearchConfig` field, or one of two tables, ``[train]`` (any `TrainConfig`
field) and ``[space_options]`` (options of the search space). The command line overrides the file,
and the file overrides the defaults:

    name = "fmnist-1"
    trials = 8
    subset = 5000
    objectives = ["val_accuracy", "params"]   # or "val_accuracy,params", as on the command line
    time-budget = "30m"                       # durations as on the command line, or seconds

    [train]
    epochs = 1
    batch_size = 64

    [space_options]
    depth = [1, 2]

A `--space-config` given on the command line replaces the file's ``space-config`` and
``[space_options]``; `--space-option KEY=JSON` overrides one key of either. A relative
``space-config`` in the file is relative to the file.

`to_toml(config)` is what `--dump-config` prints: the effective `SearchConfig`, every field, as
a file that `--config` reads back to the same config (None, "not set", is left out).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import tomllib
from typing import Any

from nas.search.config import ConfigError, SearchConfig, parse_duration
from workers.records import TrainConfig

#: Keys of the file that are options of `nas search` without a SearchConfig field of their own.
_EXTRA = {"space_config": "space_config", "no_progress": "no_progress", "format": "format"}
#: Largest config file read (a search's options take a few dozen lines).
MAX_BYTES = 256 * 1024


def _flag_dests() -> dict[str, str]:
    """File key (flag without dashes, underscores for dashes) -> argparse dest of `nas search`."""
    from nas.cli.search import _SEARCH_OPTIONS, _TRAIN_OPTIONS

    out = {flag.lstrip("-").replace("-", "_"): name for opts in _SEARCH_OPTIONS.values() for flag, name, _ in opts}
    out |= {flag.lstrip("-").replace("-", "_"): f"train_{name}" for flag, name, _ in _TRAIN_OPTIONS}
    out |= {name: name for opts in _SEARCH_OPTIONS.values() for _, name, _ in opts}  # field names too
    out |= _EXTRA
    return out


def read(path: str) -> dict[str, Any]:
    """The TOML file at `path` as a dict. Raises ConfigError naming the file and the problem."""
    if not os.path.isfile(path):
        what = "is a directory" if os.path.isdir(path) else "not found"
        raise ConfigError(f"--config {path!r} {what}; pass a .toml file (see `nas search --dump-config`)")
    if os.path.getsize(path) > MAX_BYTES:
        raise ConfigError(f"--config {path!r} is over {MAX_BYTES:,} bytes; a search's options take a few lines")
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"--config {path!r}: not valid TOML: {e}") from None


def apply(args: argparse.Namespace) -> None:
    """Fill the options `args` did not get on the command line from the file `args.config`.

    Sets `args.config_train` (the file's ``[train]`` table, below the train flags) as well.
    Raises ConfigError for an unknown key or table, naming the file and the valid keys.
    """
    args.config_train = {}
    path = getattr(args, "config", None)
    if not path:
        return
    data = read(path)
    dests = _flag_dests()
    cli_space_config = getattr(args, "space_config", None)
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for raw_key, value in data.items():
        key = raw_key.replace("-", "_")
        if key == "train":
            if not isinstance(value, dict):
                raise ConfigError(f"--config {path!r}: 'train' must be a table ([train])")
            unknown = sorted(set(value) - train_fields)
            if unknown:
                raise ConfigError(
                    f"--config {path!r}: unknown [train] key {unknown[0]!r}; valid: {', '.join(sorted(train_fields))}"
                )
            args.config_train = dict(value)
            if isinstance(value.get("max_seconds"), str):
                args.config_train["max_seconds"] = parse_duration(value["max_seconds"], "[train] max_seconds")
            continue
        if key == "space_options":
            if not isinstance(value, dict):
                raise ConfigError(f"--config {path!r}: 'space_options' must be a table ([space_options])")
            if cli_space_config is None:  # a --space-config on the command line replaces them
                given = list(getattr(args, "space_option", None) or [])
                args.space_option = [f"{k}={json.dumps(v)}" for k, v in value.items()] + given
            continue
        if key not in dests:
            valid = sorted(set(dests) | {"train", "space_options"})
            raise ConfigError(f"--config {path!r}: unknown key {raw_key!r}; valid: {', '.join(valid)}")
        dest = dests[key]
        if dest == "no_progress":
            if not getattr(args, dest, False):
                setattr(args, dest, bool(value))
            continue
        if getattr(args, dest, None) is not None:
            continue  # given on the command line: it wins
        if dest == "space_config" and isinstance(value, str) and not os.path.isabs(value):
            value = os.path.join(os.path.dirname(os.path.abspath(path)), value)
        if dest == "objectives" and isinstance(value, list):
            value = ",".join(map(str, value))
        setattr(args, dest, value)


# ---- --dump-config ------------------------------------------------------------------------------
def to_toml(config: SearchConfig) -> str:
    """The effective config as TOML: the search fields, then ``[space_options]`` and ``[train]``."""
    d = config.to_dict()
    space_options = d.pop("space_options")
    train = d.pop("train")
    lines = ["# nas search --config FILE: the command line overrides what this file sets"]
    lines += [f"{k} = {_value(v)}" for k, v in d.items() if v is not None]
    for title, table in (("space_options", space_options), ("train", train)):
        lines += ["", f"[{title}]"]
        lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def _value(v: Any) -> str:
    """One TOML value. Strings are JSON strings (a subset of TOML's basic strings)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return ("-" if v < 0 else "") + ("nan" if math.isnan(v) else "inf")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v if x is not None) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items() if x is not None) + "}"
    raise ConfigError(f"cannot write {v!r} ({type(v).__name__}) as TOML")


def add_options(parser: Any) -> None:
    """`nas search`'s --config and --dump-config."""
    g = parser.add_argument_group("config file")
    g.add_argument(
        "--config",
        metavar="FILE",
        help="read options from a TOML file; options given here override it (default: none)",
    )
    g.add_argument(
        "--dump-config",
        action="store_true",
        help="print the effective options as TOML (a --config file) and exit, touching no database",
    )
