"""One source for each setting: defaults live in the frozen records, `--help` shows them, and
the options are parsed once into the records that travel to the trainer."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

import search_spaces
from nas.cli._commands import COMMANDS, field_default, load
from nas.cli.main import build_parser
from nas.cli.search import config_from_args
from nas.final.protocol import FinalConfig
from nas.search.config import SearchConfig
from workers.records import TrainConfig, TrialJob

FLAG_ACTIONS = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._HelpAction, argparse._VersionAction)


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_of_every_command_shows_its_default(command):
    p = _subparsers()[command]
    # an either-or group (export's --best/--trial/--hash/--arch) says its default on one member
    chosen = set()
    for g in p._mutually_exclusive_groups:
        members = g._group_actions
        assert g.required or any("default" in (a.help or "") for a in members), f"nas {command}: {members}"
        chosen |= {id(a) for a in members}
    for action in p._actions:
        if isinstance(action, FLAG_ACTIONS) or not action.option_strings or action.required or id(action) in chosen:
            continue
        assert action.help and "default" in action.help, f"nas {command} {action.option_strings[0]}: {action.help!r}"


def test_search_help_defaults_come_from_the_records():
    p = _subparsers()["search"]
    helps = {a.option_strings[0]: a.help for a in p._actions if a.option_strings}
    assert f"(default: {field_default(SearchConfig, 'sampler')})" in helps["--sampler"]
    assert f"(default: {field_default(SearchConfig, 'val_fraction')})" in helps["--val-fraction"]
    assert f"(default: {TrainConfig.epochs})" in helps["--epochs"]
    assert f"(default: {TrainConfig.batch_size})" in helps["--batch-size"]
    for command in ("evaluate", "export", "train"):
        epochs = next(a for a in _subparsers()[command]._actions if "--epochs" in a.option_strings)
        assert epochs.default == FinalConfig.epochs and f"(default: {FinalConfig.epochs})" in epochs.help


def test_options_not_given_keep_the_record_defaults():
    args = build_parser().parse_args(["search"])
    config = config_from_args(args)
    # nothing given: exactly the dataclass defaults, with the space's own options filled in
    assert dataclasses.replace(config, space_options={}) == SearchConfig()
    assert config.space_options == search_spaces.get("skipdag").options_dict()
    assert config.train == TrainConfig() and config.name == "skipdag-fashion-mnist"
    args = build_parser().parse_args(["search", "--epochs", "2", "--lr", "0.05", "--trial-timeout", "2m"])
    config = config_from_args(args)
    assert config.train == TrainConfig(epochs=2, lr=0.05, max_seconds=120.0)
    assert build_parser().parse_args(["search", "--time-budget", "5m"]).time_budget == "5m"
    assert config_from_args(build_parser().parse_args(["search", "--time-budget", "5m"])).trials is None


def test_a_bad_duration_names_its_own_flag():
    from nas.search.config import ConfigError

    with pytest.raises(ConfigError, match=r"^--trial-timeout '5parsecs'"):
        config_from_args(build_parser().parse_args(["search", "--trial-timeout", "5parsecs"]))
    with pytest.raises(ConfigError, match=r"^--time-budget '5parsecs'"):
        config_from_args(build_parser().parse_args(["search", "--time-budget", "5parsecs"]))


def test_train_is_parsed_once_into_a_trainconfig():
    config = SearchConfig(train={"epochs": 2, "batch_size": 64})
    assert isinstance(config.train, TrainConfig) and config.train.epochs == 2
    assert SearchConfig.from_dict(config.to_dict()) == config  # round trip through the database JSON
    job = TrialJob(1, 0, "{}", config.train, max_seconds=5.0)
    assert job.train is config.train  # the same record travels driver -> executor -> worker
    assert job.train_config() == dataclasses.replace(config.train, max_seconds=5.0)


def test_every_command_module_is_one_module():
    for name in COMMANDS:
        module = load(name)
        assert callable(module.add_parser) and callable(module.run), name
