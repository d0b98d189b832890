"""The command line: help, and one-line errors with exit status 2 for bad input."""

from __future__ import annotations

import pytest

from nas.cli import main
from nas.cli._commands import COMMANDS


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as e:
        main([name, "--help"])
    assert e.value.code == 0
    assert "usage: nas " + name in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["search", "--sampler", "foo"], "--sampler 'foo' is not one of"),
        (["search", "--trials", "abc"], "invalid int value: 'abc'"),
        (["search", "--trials", "-1"], "--trials -1: must be a positive number"),
        (["search", "--time-budget", "soon"], "--time-budget 'soon'"),
        (["search", "--space", "nope"], "unknown search space 'nope'"),
        (["search", "--space-option", "depth"], "use KEY=JSON"),
        (["search", "--dataset", "nope", "--db", "sqlite:///{tmp}/x.db"], "unknown dataset 'nope'"),
        (["search", "--objectives", "params"], "start with val_accuracy"),
        (["train", "--arch", "{tmp}/missing.json"], "not found"),
        (["leaderboard", "--db", "sqlite:///{tmp}/missing.db"], "no database file"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit) as e:
        raise SystemExit(main(argv))
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_bad_arch_json_is_one_line(tmp_path, capsys):
    bad = tmp_path / "arch.json"
    bad.write_text('{"schema": "nas.arch/1", "nodes": [{"op": "conv9x9"}]}')
    assert main(["train", "--arch", str(bad), "--dataset", "synthetic", "--out", str(tmp_path / "o")]) == 2
    assert "missing key 'merge'" in capsys.readouterr().err
