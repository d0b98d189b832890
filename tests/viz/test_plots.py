"""`nas plot` on real small searches: every kind in every format, and its one-line errors.

Four tiny searches (synthetic data, in-process executor) are run once for the module, each in
its own database so no search reuses another's results:

    single  6 trials, 2 epochs, median pruner: completed, pruned and learning curves
    multi   the same with objectives val_accuracy,params and NSGA-II (Optuna's Pareto plot)
    one     a single trial (too few for importances)
    none    every architecture over --max-params (no completed trial at all)

Plots are drawn in-process through `nas.cli.main`; the exit status and stderr of bad options
are checked in a subprocess, as a user would see them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nas.cli import main
from nas.viz import plots

REPO = Path(__file__).resolve().parents[2]
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF"}
SMALL = [
    "--executor",
    "local",
    "--dataset",
    "synthetic",
    "--epochs",
    "2",
    "--subset",
    "256",
    "--batch-size",
    "64",
    "--no-progress",
    "--space-option",
    "widths=[[8],[16]]",
    "--space-option",
    "depth=[1,2]",
]
SEARCHES = {
    "single": ["--trials", "6", "--pruner", "median", "--sampler", "random"],
    "multi": ["--trials", "6", "--objectives", "val_accuracy,params", "--sampler", "nsga2"],
    "one": ["--trials", "1", "--pruner", "none"],
    "none": ["--trials", "2", "--max-params", "1"],
}

# Tests that use `dbs` are slow: four real searches, about 35 s on two CPU cores.
slow = pytest.mark.slow


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NAS_DEBUG"}  # errors as users see them
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def nas(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nas.cli", *argv], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def dbs(tmp_path_factory) -> dict[str, str]:
    """Search name -> database URL; each search finished."""
    root = tmp_path_factory.mktemp("plots")
    urls = {}
    for name, extra in SEARCHES.items():
        urls[name] = f"sqlite:///{root / name}.db"
        r = nas("search", "--db", urls[name], "--name", name, *SMALL, *extra)
        assert r.returncode == 0, r.stderr[-3000:]
    return urls


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def check_file(path: Path, fmt: str, dpi: float = plots.MIN_DPI) -> None:
    assert path.is_file(), path
    data = path.read_bytes()
    if fmt == "svg":
        assert b"<svg" in data[:2000], path
    else:
        assert data.startswith(MAGIC[fmt]), path
    if fmt == "png":
        from PIL import Image

        with Image.open(path) as im:
            got = im.info.get("dpi")
            assert got is not None and min(round(d) for d in got) >= max(dpi, plots.MIN_DPI), (path, got)
            assert min(im.size) >= 300, (path, im.size)


# ---- every kind, every format --------------------------------------------------------------------
@slow
@pytest.mark.parametrize("fmt", plots.FORMATS)
def test_all_kinds_single_objective(dbs, capsys, tmp_path, fmt):
    out = tmp_path / "p"
    rc, stdout, err = cli(capsys, "plot", "--db", dbs["single"], "--kind", "all", "--format", fmt, "--out", str(out))
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{k}.{fmt}" for k in plots.KINDS)
    for kind in plots.KINDS:
        check_file(out / f"{kind}.{fmt}", fmt)
        assert f"wrote {out / f'{kind}.{fmt}'}" in stdout
    assert err == ""


@slow
@pytest.mark.parametrize("fmt", plots.FORMATS)
def test_all_kinds_multi_objective_skips_learning_curves(dbs, capsys, tmp_path, fmt):
    out = tmp_path / "p"
    rc, _, err = cli(capsys, "plot", "--db", dbs["multi"], "--kind", "all", "--format", fmt, "--out", str(out))
    assert rc == 0, err
    drawn = [k for k in plots.KINDS if k != "intermediate"]
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{k}.{fmt}" for k in drawn)
    for kind in drawn:
        check_file(out / f"{kind}.{fmt}", fmt)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nas: skipped intermediate:") and "multi-objective" in lines[0]


@slow
def test_default_is_history_pareto_ops_png(dbs, capsys, tmp_path):
    for name in ("single", "multi"):
        out = tmp_path / name
        rc, _, err = cli(capsys, "plot", "--db", dbs[name], "--out", str(out))
        assert rc == 0, err
        assert sorted(p.name for p in out.iterdir()) == ["history.png", "ops.png", "pareto.png"]
        for p in out.iterdir():
            check_file(p, "png")


@slow
def test_kinds_repeat_or_comma_list_and_dpi(dbs, capsys, tmp_path):
    out = tmp_path / "p"
    argv = ["plot", "--db", dbs["single"], "--out", str(out), "--dpi", "220"]
    rc, stdout, err = cli(capsys, *argv, "--kind", "ops,importance", "--kind", "history", "--kind", "ops")
    assert rc == 0, err
    assert [line.split("/")[-1] for line in stdout.splitlines()] == ["ops.png", "importance.png", "history.png"]
    for p in out.iterdir():
        check_file(p, "png", dpi=220)


@slow
def test_plotting_leaves_pyplot_alone(dbs, capsys, tmp_path):
    import matplotlib
    from matplotlib import pyplot as plt

    before = dict(matplotlib.rcParams)
    rc, _, err = cli(capsys, "plot", "--db", dbs["multi"], "--kind", "all", "--out", str(tmp_path))
    assert rc == 0, err
    assert plt.get_fignums() == []
    assert dict(matplotlib.rcParams) == before  # Optuna's ggplot style stays inside the call


# ---- what a search cannot give -------------------------------------------------------------------
def one_error_line(rc: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1, err
    assert lines[0].startswith("nas: error: ")
    return lines[0]


@slow
def test_learning_curves_of_a_multi_objective_search_is_an_error(dbs, capsys, tmp_path):
    rc, _, err = cli(capsys, "plot", "--db", dbs["multi"], "--kind", "intermediate", "--out", str(tmp_path / "p"))
    line = one_error_line(rc, err)
    assert "intermediate" in line and "multi-objective" in line
    # all or nothing: a list with one kind the search cannot give writes none of the others
    out = tmp_path / "q"
    rc, _, err = cli(capsys, "plot", "--db", dbs["multi"], "--kind", "history,pareto,intermediate", "--out", str(out))
    line = one_error_line(rc, err)
    assert "intermediate" in line and not (out.exists() and any(out.iterdir()))


@slow
def test_importance_needs_two_completed_trials(dbs, capsys, tmp_path):
    out = tmp_path / "p"
    rc, _, err = cli(capsys, "plot", "--db", dbs["one"], "--kind", "importance", "--out", str(out))
    line = one_error_line(rc, err)
    assert "importance" in line and "at least 2 completed trials" in line and "has 1" in line
    rc, _, err = cli(capsys, "plot", "--db", dbs["one"], "--kind", "all", "--out", str(out))
    assert rc == 0, err
    assert "nas: skipped importance:" in err
    assert {"history.png", "pareto.png", "ops.png"} <= {p.name for p in out.iterdir()}


@slow
def test_a_search_with_no_completed_trial_is_an_error(dbs, capsys, tmp_path):
    out = tmp_path / "p"
    for kind in ("history", "all"):
        rc, _, err = cli(capsys, "plot", "--db", dbs["none"], "--kind", kind, "--out", str(out))
        assert "no completed trials" in one_error_line(rc, err)
    assert not out.exists()


# ---- bad options: one line, exit 2, before the database is opened ---------------------------------
@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--kind", "bogus"], ["'bogus'", *plots.KINDS]),
        (["--kind", "history,curves"], ["'curves'"]),
        (["--dpi", "100"], ["dpi 100", "150"]),
        (["--dpi", "72.5"], ["dpi 72.5", "150"]),
    ],
)
def test_bad_kind_or_low_dpi_exit_2_with_one_line(tmp_path, argv, words):
    missing = tmp_path / "missing.db"
    r = nas("plot", "--db", f"sqlite:///{missing}", *argv)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith("nas: error: ") and all(w in lines[0] for w in words), lines[0]
    assert r.stdout == "" and not missing.exists()


def test_parse_kinds():
    assert plots.parse_kinds(None) == plots.DEFAULT_KINDS == ("history", "pareto", "ops")
    assert plots.parse_kinds(["all"]) == plots.KINDS
    got = plots.parse_kinds(["ops, History", "ops", "all"])
    assert got == ("ops", "history", "pareto", "importance", "intermediate")
    assert plots.parse_kinds("pareto") == ("pareto",)
    with pytest.raises(ValueError, match="unknown plot kind 'x'; choose from history, pareto"):
        plots.parse_kinds(["history,x"])
    with pytest.raises(ValueError, match="no plot kind"):
        plots.parse_kinds([","])
    for bad in (149, 0, float("nan"), "300"):
        with pytest.raises(ValueError, match="dpi"):
            plots.check_dpi(bad)  # type: ignore[arg-type]
    assert plots.check_dpi(150) == 150
