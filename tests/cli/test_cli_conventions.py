"""Shell conventions: a config file for `nas search` (and --dump-config), JSON output, shell
completion, and output piped into a reader that stops early."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib

import pytest

from nas.cli.main import build_parser, main
from nas.cli.search import config_from_args
from nas.search.config import SAMPLERS, SearchConfig
from tests.helpers import run_tiny_search

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAS = [sys.executable, "-m", "nas"]

CONFIG = """
name = "from-file"
trials = 7
batch-size = 32                      # a flag's name
val_fraction = 0.2                   # a field's name
objectives = ["val_accuracy", "params"]
time-budget = "30m"
sampler = "random"
tensorboard = "tb"
space-config = "space.toml"          # relative to this file

[train]
epochs = 4
momentum = 0.8

[space_options]
max_skips = 1
"""


def _config(tmp_path, *argv: str) -> SearchConfig:
    (tmp_path / "search.toml").write_text(CONFIG)
    (tmp_path / "space.toml").write_text("depth = [1, 2]\nmax_skips = 2\n")
    return config_from_args(build_parser().parse_args(["search", "--config", str(tmp_path / "search.toml"), *argv]))


def test_a_config_file_sets_options_and_the_command_line_overrides_it(tmp_path):
    c = _config(tmp_path)
    assert (c.name, c.trials, c.val_fraction, c.sampler, c.tensorboard) == ("from-file", 7, 0.2, "random", "tb")
    assert c.objectives == ("val_accuracy", "params") and c.time_budget == 1800.0
    assert (c.train.epochs, c.train.batch_size, c.train.momentum) == (4, 32, 0.8)
    # [space_options] over the file's space-config file, which is found beside the config file
    assert c.space_options["depth"] == [1, 2] and c.space_options["max_skips"] == 1

    c = _config(tmp_path, "--trials", "3", "--epochs", "2", "--sampler", "tpe", "--space-option", "max_skips=0")
    assert (c.trials, c.train.epochs, c.sampler, c.space_options["max_skips"]) == (3, 2, "tpe", 0)
    assert c.train.momentum == 0.8 and c.train.batch_size == 32  # what the command line left alone


def test_dump_config_prints_toml_that_reads_back_to_the_same_config_and_touches_no_db(tmp_path):
    (tmp_path / "search.toml").write_text(CONFIG)
    (tmp_path / "space.toml").write_text("depth = [1, 2]\n")
    db_url = f"sqlite:///{tmp_path}/never.db"
    argv = ["search", "--config", str(tmp_path / "search.toml"), "--db", db_url, "--epochs", "2"]
    r = subprocess.run([*NAS, *argv, "--dump-config"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    dumped = tomllib.loads(r.stdout)
    assert dumped["db"] == db_url and dumped["train"]["epochs"] == 2 and dumped["trials"] == 7
    assert not (tmp_path / "never.db").exists()
    (tmp_path / "dumped.toml").write_text(r.stdout)
    again = config_from_args(build_parser().parse_args(["search", "--config", str(tmp_path / "dumped.toml")]))
    assert again == config_from_args(build_parser().parse_args(argv))


@pytest.mark.parametrize(
    "text, message",
    [
        ("trails = 3\n", "unknown key 'trails'"),
        ("[train]\nepoch = 3\n", "unknown [train] key 'epoch'"),
        ("trials = \n", "not valid TOML"),
        ("sampler = 'nope'\n", "--sampler 'nope' is not one of"),
    ],
)
def test_a_bad_config_file_is_one_line_and_exit_2(text, message, tmp_path, capsys):
    (tmp_path / "bad.toml").write_text(text)
    assert main(["search", "--config", str(tmp_path / "bad.toml"), "--dump-config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


# ---- JSON output, pipes ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def search_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("conv")
    return run_tiny_search(tmp / "nas.db", "conv")


def test_show_format_json(search_db, capsys):
    assert main(["show", "0", "--db", search_db, "--format", "json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["selected_trial"] == {"search": "conv", "trial": 0}
    assert rec["nodes"][0]["op"] == "input" and rec["arch"]["nodes"]
    assert rec["trials"][0]["search"] == "conv" and rec["params"] > 0 and len(rec["hash"]) == 64


@pytest.mark.parametrize(
    "argv",
    [["leaderboard"], ["leaderboard", "--format", "json"], ["show", "0", "--format", "json"], ["searches"]],
)
def test_a_reader_that_stops_early_gets_no_traceback(argv, search_db):
    # the reader is gone before the first write: every write fails with EPIPE
    p = subprocess.Popen([*NAS, *argv, "--db", search_db], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0 and err == "", err
    # and as a shell pipeline: `nas leaderboard | head -1`
    cmd = " ".join(map(repr, [*NAS, *argv, "--db", search_db])) + " | head -1; echo rc=${PIPESTATUS[0]} >&2"
    r = subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in r.stderr and "rc=0" in r.stderr and len(r.stdout.splitlines()) == 1, r.stderr


# ---- completion ------------------------------------------------------------------------------
def _bash_complete(script: str, *words: str) -> list[str]:
    """What bash offers for `words` (the last one being completed), with the script sourced."""
    quoted = " ".join(repr(w) for w in words)
    prog = (
        f"source {script}\n"
        f"COMP_WORDS=({quoted}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); COMP_LINE={' '.join(words)!r}; "
        'COMP_POINT=${#COMP_LINE}; _shtab_nas nas "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"; '
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    r = subprocess.run(["bash", "--norc", "-c", prog], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_bash_completion_knows_commands_options_and_values(tmp_path):
    r = subprocess.run([*NAS, "completion", "bash"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "complete -o bashdefault -F _shtab_nas nas" in r.stdout
    script = tmp_path / "nas.bash"
    script.write_text(r.stdout)
    assert _bash_complete(str(script), "nas", "sea") == ["search", "searches"]
    assert _bash_complete(str(script), "nas", "search", "--sam") == ["--sampler"]
    assert _bash_complete(str(script), "nas", "search", "--sampler", "") == list(SAMPLERS)
    assert "--dump-config" in _bash_complete(str(script), "nas", "search", "--du")
    assert _bash_complete(str(script), "nas", "show", "3", "--format", "") == ["png", "svg", "dot", "json"]
    assert _bash_complete(str(script), "nas", "completion", "") == ["bash", "zsh"]


def test_zsh_completion_is_a_compdef_that_zsh_loads(tmp_path):
    r = subprocess.run([*NAS, "completion", "zsh"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("#compdef nas")
    assert "'--sampler[" in r.stdout or "--sampler" in r.stdout
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed: checked the script's header only")
    (tmp_path / "_nas").write_text(r.stdout)
    check = subprocess.run(["zsh", "-n", str(tmp_path / "_nas")], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    prog = f"fpath=({tmp_path} $fpath); autoload -U compinit; compinit -u -D; print -r -- ${{_comps[nas]}}"
    loaded = subprocess.run(["zsh", "-f", "-c", prog], capture_output=True, text=True, timeout=60)
    assert loaded.stdout.strip() == "_nas", loaded.stderr


def test_an_unknown_shell_is_refused_in_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["completion", "fish"])
    assert e.value.code == 2 and "invalid choice: 'fish'" in capsys.readouterr().err


# ---- a real search on Ray: config file in, JSON summary out, no Ray noise ----------------------
@pytest.mark.slow
def test_a_ray_search_from_a_config_file_ends_in_one_json_line_and_no_token_warning(tmp_path):
    (tmp_path / "search.toml").write_text(
        f'name = "cfg"\ndb = "sqlite:///{tmp_path}/nas.db"\ndataset = "synthetic"\nsubset = 300\ntrials = 2\n'
        "concurrency = 1\nno-progress = true\n[train]\nepochs = 1\nbatch_size = 64\n"
        "[space_options]\nwidths = [[8]]\ndepth = [1, 1]\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_ADDRESS")}
    r = subprocess.run(
        [*NAS, "search", "--config", str(tmp_path / "search.toml"), "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert "Token authentication" not in r.stderr and "authentication" not in r.stderr.lower(), r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, r.stdout
    summary = json.loads(lines[0])
    assert summary["search"] == "cfg" and summary["status"] == "finished" and summary["requested_trials"] == 2
    assert sum(summary["counts"].values()) == 2 and summary["best"]["val_accuracy"] is not None
    assert set(summary) == {
        "search", "status", "db", "requested_trials", "counts", "trained_this_run", "elapsed_seconds",
        "trials_per_minute", "best"
    }  # fmt: skip
    assert summary["trials_per_minute"] == pytest.approx(
        60 * summary["trained_this_run"] / summary["elapsed_seconds"], rel=1e-3
    )


def test_a_space_config_on_the_command_line_replaces_the_files_space_options(tmp_path):
    (tmp_path / "other.toml").write_text("depth = [2, 3]\n")
    c = _config(tmp_path, "--space-config", str(tmp_path / "other.toml"))
    assert c.space_options["depth"] == [2, 3] and c.space_options["max_skips"] == 2  # the space's default


def test_the_summary_gives_trials_per_minute_and_null_when_none_trained():
    from nas.cli._search_json import record
    from nas.search.driver import SearchSummary

    ran = SearchSummary("s", "sqlite:///x.db", "finished", 8, {"complete": 8}, 8, 96.0, None)
    assert ran.trials_per_minute == pytest.approx(5.0) and record(ran)["trials_per_minute"] == 5.0
    idle = SearchSummary("s", "sqlite:///x.db", "finished", 8, {"complete": 8}, 0, 1.5, None)
    assert idle.trials_per_minute is None and record(idle)["trials_per_minute"] is None
