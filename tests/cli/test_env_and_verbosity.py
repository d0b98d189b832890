"""`NAS_DB` as the default database of every --db, and the global -v/-q (nas/cli/main.py)."""

from __future__ import annotations

import os

import pytest

from nas.cli._commands import COMMANDS
from nas.cli.main import build_parser, info, main, set_verbosity


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """Every variable these tests (or `main`) set is put back afterwards, unset where it was;
    so is tqdm, which `-q` switches off."""
    import tqdm.std

    monkeypatch.setattr(tqdm.std.tqdm, "__init__", tqdm.std.tqdm.__init__)
    for name in ("NAS_DB", "NAS_VERBOSITY", "TQDM_DISABLE"):
        monkeypatch.setenv(name, "x")  # recorded first, so that delenv's undo restores "unset"
        monkeypatch.delenv(name)
    yield
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _commands_with_db() -> list[str]:
    sub = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    return [name for name in COMMANDS if any("--db" in a.option_strings for a in sub[name]._actions)]


def test_nas_db_is_the_default_of_every_db_option_and_the_flag_wins(monkeypatch, tmp_path):
    commands = _commands_with_db()
    assert {"search", "searches", "leaderboard", "show", "evaluate", "export", "plot", "dashboard"} <= set(commands)
    minimal = {"show": ["0"], "export": ["--out", "x"]}
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("NAS_DB", url)
    for name in commands:
        args = build_parser().parse_args([name, *minimal.get(name, [])])
        if name == "search":
            from nas.cli.search import config_from_args

            assert config_from_args(args).db == url
        else:
            assert args.db == url, name
        flagged = build_parser().parse_args([name, *minimal.get(name, []), "--db", "sqlite:///flag.db"])
        db = config_from_args(flagged).db if name == "search" else flagged.db
        assert db == "sqlite:///flag.db", name


def test_without_nas_db_the_default_is_nas_db_file_and_help_says_both(capsys):
    from nas import SearchConfig

    assert build_parser().parse_args(["leaderboard"]).db == "sqlite:///nas.db"
    assert SearchConfig().db == "sqlite:///nas.db"
    for name in ("search", "leaderboard"):
        with pytest.raises(SystemExit):
            main([name, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "$NAS_DB if set, else sqlite:///nas.db" in text, name


def test_nas_db_reaches_a_read_command(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("NAS_DB", f"sqlite:///{tmp_path / 'from-env.db'}")
    assert main(["leaderboard"]) == 2
    assert "from-env.db" in capsys.readouterr().err  # the error names the URL it got from NAS_DB


@pytest.mark.parametrize(
    "argv, level",
    [
        (["leaderboard"], 0),
        (["-q", "leaderboard"], -1),
        (["leaderboard", "-q"], -1),
        (["--quiet", "searches"], -1),
        (["-v", "show", "1"], 1),
        (["search", "--verbose"], 1),
    ],
)
def test_verbosity_before_or_after_the_command(argv, level):
    assert build_parser().parse_args(argv).verbosity == level


def test_quiet_and_verbose_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["-q", "-v", "leaderboard"])
    assert e.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_quiet_hides_progress_bars_and_information_but_not_errors(capsys, tmp_path):
    from tqdm.auto import tqdm

    set_verbosity(-1)
    info("search 'x': 2 complete")
    assert capsys.readouterr().err == ""
    with tqdm(total=3) as bar:  # TQDM_DISABLE: every bar, in this process and its children
        assert bar.disable
    assert main(["-q", "leaderboard", "--db", f"sqlite:///{tmp_path / 'none.db'}"]) == 2
    assert "nas: error:" in capsys.readouterr().err  # errors still print


def test_default_shows_information_and_keeps_optuna_quiet(capsys):
    import optuna

    set_verbosity(0)
    info("search 'x': 2 complete")
    assert "2 complete" in capsys.readouterr().err
    assert "TQDM_DISABLE" not in os.environ
    assert optuna.logging.get_verbosity() == optuna.logging.WARNING


def test_verbose_shows_optuna_and_ray_info_logs(monkeypatch):
    import optuna

    set_verbosity(1)
    assert optuna.logging.get_verbosity() == optuna.logging.INFO
    from workers import ray_executor

    seen: dict = {}
    monkeypatch.setattr(ray_executor.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray_executor.ray, "init", lambda **kw: seen.update(kw))
    ray_executor.init_ray(None)
    assert seen["logging_level"] == "INFO"
    set_verbosity(0)
    ray_executor.init_ray(None)
    assert seen["logging_level"] == "WARNING"
