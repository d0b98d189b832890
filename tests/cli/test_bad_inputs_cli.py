"""Bad command-line values and files for every command, through the real CLI: one line, exit 2,
and the database untouched.

Each case runs `nas ...` (in this process, through `nas.cli.main`) against a copy of a database
written by a real tiny search, and checks: exit status 2; exactly one line on stderr, naming the
bad value and the fix (the words listed with the case); no traceback and no bare ``[Errno N]``;
the database file's sha256 unchanged and no file added beside it (no -wal, -shm or -journal: the
database was not even opened for writing). `nas search` cases also run against a database
path that does not exist yet: a refused search must not create it.

The architecture-JSON, space-option and --out checks of `nas train` and `nas sample` are in
tests/cli/test_bad_inputs_ir.py; the cases here are the other commands and options.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from nas.cli import main
from tests.helpers import tiny_search_options

SEARCH = ["search", *tiny_search_options(2)]
TINY = ["--space-option", "widths=[[8],[16]]", "--space-option", "depth=[1,2]"]
NEW = [*SEARCH, *TINY, "--name", "new"]  # a search that does not exist: it would be created
OLD = [*SEARCH, *TINY, "--name", "b"]  # the search in the database: it would be resumed
SPACE_FILE = [*SEARCH, "--name", "new"]  # without --space-option, so the file's options count
HELP = "(see `nas search --help`)"


def _node(op="conv3x3", inputs=(0,)):
    return {"op": op, "merge": None, "inputs": list(inputs), "stage": 0, "width": 8}


def _arch(*middle):
    nodes = [_node("input", inputs=()), *middle, _node("output", inputs=(len(middle),))]
    return json.dumps({"schema": "nas.arch/1", "nodes": nodes})


#: files each case may name, as {T}/NAME
FILES = {
    "good.json": _arch(_node(), _node(inputs=(1,))),
    "bad.json": "{not json",
    "cycle.json": _arch(_node(inputs=(2,)), _node(inputs=(1,))),
    "unknown-op.json": _arch(_node(op="conv9x9")),
    "wide.toml": "widths = [[4294967296]]\n",
    "syntax.toml": "widths = [[8,\n",
    "unknown.toml": "widht = [[16]]\n",
    "list.yaml": "- 1\n- 2\n",
    "options.json": "{}\n",
}

# (argv, words the error line must hold: the bad value and the fix)
CASES: dict[str, tuple[list[str], list[str]]] = {
    # ---- nas search: budget, training --------------------------------------------------------
    "search --trials 0": ([*NEW, "--trials", "0"], ["--trials 0", "must be a positive number"]),
    "search --trials -1": ([*NEW, "--trials", "-1"], ["--trials -1", "must be a positive number"]),
    "search --trials abc": ([*NEW, "--trials", "abc"], ["--trials", "invalid int value: 'abc'", HELP]),
    "search --trials 1e3": ([*NEW, "--trials", "1e3"], ["--trials", "invalid int value: '1e3'", HELP]),
    "search --epochs 0": ([*NEW, "--epochs", "0"], ["--epochs 0 is invalid", "use an integer >= 1"]),
    "search --epochs -3": ([*NEW, "--epochs", "-3"], ["--epochs -3 is invalid", "use an integer >= 1"]),
    "search --epochs x": ([*NEW, "--epochs", "x"], ["--epochs", "invalid int value: 'x'", HELP]),
    "search --subset 0": ([*NEW, "--subset", "0"], ["--subset 0", "must be a positive number"]),
    "search --subset -5": ([*NEW, "--subset", "-5"], ["--subset -5", "must be a positive number"]),
    "search --subset 1": ([*NEW, "--subset", "1"], ["--subset 1: leaves 1 training", "use at least 100"]),
    "search --batch-size 0": ([*NEW, "--batch-size", "0"], ["--batch-size 0 is invalid", "integer >= 1"]),
    "search --batch-size -64": ([*NEW, "--batch-size", "-64"], ["--batch-size -64 is invalid", "integer >= 1"]),
    "search --batch-size abc": ([*NEW, "--batch-size", "abc"], ["--batch-size", "invalid int value: 'abc'"]),
    "search --lr 0": ([*NEW, "--lr", "0"], ["--lr 0.0 is invalid", "use a learning rate > 0"]),
    "search --lr -1": ([*NEW, "--lr", "-1"], ["--lr -1.0 is invalid", "use a learning rate > 0"]),
    "search --lr nan": ([*NEW, "--lr", "nan"], ["--lr nan", "use a finite number"]),
    "search --lr inf": ([*NEW, "--lr", "inf"], ["--lr inf", "use a finite number"]),
    "search --lr 1e400": ([*NEW, "--lr", "1e400"], ["--lr inf", "use a finite number"]),
    "search --train-fraction 0": ([*NEW, "--train-fraction", "0"], ["--train-fraction 0.0", "in (0, 1]"]),
    "search --train-fraction 2": ([*NEW, "--train-fraction", "2"], ["--train-fraction 2.0", "in (0, 1]"]),
    "search --trial-timeout 5parsecs": (
        [*NEW, "--trial-timeout", "5parsecs"],
        ["--trial-timeout '5parsecs'", "use a duration like 90s, 30m"],
    ),
    "search --time-budget soon": ([*NEW, "--time-budget", "soon"], ["--time-budget 'soon'", "use a duration"]),
    "search --time-budget 0": ([*NEW, "--time-budget", "0"], ["--time-budget 0.0", "must be a positive number"]),
    "search --time-budget=-5m": ([*NEW, "--time-budget=-5m"], ["--time-budget '-5m'", "use a duration"]),
    "search --seed abc": ([*NEW, "--seed", "abc"], ["--seed", "invalid int value: 'abc'", HELP]),
    # ---- nas search: naming, what to search, strategy -----------------------------------------
    'search --name ""': ([*NEW, "--name", ""], ["--name ''", "use letters, digits"]),
    "search --name 'a b'": ([*NEW, "--name", "a b"], ["--name 'a b'", "use letters, digits"]),
    "search --name ../x": ([*NEW, "--name", "../x"], ["--name '../x'", "use letters, digits"]),
    "search --name of 101 chars": ([*NEW, "--name", "x" * 101], ["x" * 101, "(at most 100)"]),
    "search --space unknown": (
        [*NEW, "--space", "unknown"],
        ["unknown search space 'unknown'", "available: ", "skipdag"],
    ),
    "search --dataset unknown": ([*NEW, "--dataset", "unknown"], ["unknown dataset 'unknown'", "valid: cifar10"]),
    "search --dataset imagefolder:missing": (
        [*NEW, "--dataset", "imagefolder:/nonexistent"],
        ["/nonexistent is not a folder", "one sub-folder of images per class"],
    ),
    "search --dataset npz:missing": (
        [*NEW, "--dataset", "npz:/nonexistent.npz"],
        ["/nonexistent.npz is not a file", "arrays x and y"],
    ),
    "search --val-fraction 0": ([*NEW, "--val-fraction", "0"], ["--val-fraction 0", "use e.g. 0.1"]),
    "search --val-fraction 1": ([*NEW, "--val-fraction", "1"], ["--val-fraction 1.0", "in (0, 1)"]),
    "search --val-fraction -0.1": ([*NEW, "--val-fraction", "-0.1"], ["--val-fraction -0.1", "in (0, 1)"]),
    "search --image-size 0": ([*NEW, "--image-size", "0"], ["--image-size 0", "must be a positive number"]),
    "search --objectives bad": (
        [*NEW, "--objectives", "bad"],
        ["--objectives 'bad'", "val_accuracy, ", "params, flops"],
    ),
    "search --objectives params": ([*NEW, "--objectives", "params"], ["'params'", "start with val_accuracy"]),
    "search --objectives twice": (
        [*NEW, "--objectives", "val_accuracy,val_accuracy"],
        ["'val_accuracy,val_accuracy'", "start with val_accuracy"],
    ),
    "search --objectives latency": (
        [*NEW, "--objectives", "val_accuracy,latency"],
        ["--objectives 'latency'", "val_accuracy, ", "params, flops"],
    ),
    "search --sampler bad": ([*NEW, "--sampler", "bad"], ["--sampler 'bad'", "tpe, random, ", "cmaes"]),
    "search --pruner bad": ([*NEW, "--pruner", "bad"], ["--pruner 'bad'", "asha, ", "median, none"]),
    "search --executor bad": ([*NEW, "--executor", "bad"], ["--executor 'bad'", "ray, local"]),
    "search --save-weights some": ([*NEW, "--save-weights", "some"], ["--save-weights 'some'", "all, none"]),
    "search --max-params 0": ([*NEW, "--max-params", "0"], ["--max-params 0", "must be a positive number"]),
    "search --max-params abc": ([*NEW, "--max-params", "abc"], ["--max-params", "invalid int value: 'abc'"]),
    "search --max-flops -1": ([*NEW, "--max-flops", "-1"], ["--max-flops -1", "must be a positive number"]),
    "search --bogus-flag": ([*NEW, "--bogus-flag"], ["unrecognized arguments: --bogus-flag", "see `nas --help`"]),
    # ---- nas search: execution ---------------------------------------------------------------
    "search --address nonsense": (
        [*NEW, "--executor", "ray", "--address", "nonsense"],
        ["--address 'nonsense' is not host:port", "e.g. 127.0.0.1:6379"],
    ),
    "search --address unreachable": (
        [*NEW, "--executor", "ray", "--address", "127.0.0.1:1"],
        ["--address 127.0.0.1:1: no Ray cluster answers there", "leave --address out"],
    ),
    "search --address ray://": (
        [*NEW, "--executor", "ray", "--address", "ray://127.0.0.1:1"],
        ["--address ray://127.0.0.1:1", "Ray Client (ray://) addresses are not supported", "HOST:6379"],
    ),
    "search --cpus-per-trial 64 (ray)": (
        [*NEW, "--executor", "ray", "--cpus-per-trial", "64"],
        ["--cpus-per-trial 64: this machine has", "ask for fewer"],
    ),
    "search --cpus-per-trial 64 (local)": ([*NEW, "--cpus-per-trial", "64"], ["--cpus-per-trial 64", "ask for fewer"]),
    "search --cpus-per-trial 0": ([*NEW, "--cpus-per-trial", "0"], ["--cpus-per-trial 0.0", "positive number"]),
    "search --cpus-per-trial nan": ([*NEW, "--cpus-per-trial", "nan"], ["--cpus-per-trial nan", "finite number"]),
    "search --gpus-per-trial -1": ([*NEW, "--gpus-per-trial", "-1"], ["--gpus-per-trial -1.0", "use 0 (CPU)"]),
    "search --gpus-per-trial lots": ([*NEW, "--gpus-per-trial", "lots"], ["invalid float value: 'lots'", HELP]),
    "search --concurrency 0": ([*NEW, "--concurrency", "0"], ["--concurrency 0", "must be a positive number"]),
    # ---- nas search: space options and files --------------------------------------------------
    "search --space-option without =": ([*NEW, "--space-option", "depth"], ["'depth'", "use KEY=JSON"]),
    "search --space-option unknown": ([*NEW, "--space-option", "nope=1"], ["unknown option 'nope'", "valid options"]),
    "search --space-option depth 0": ([*NEW, "--space-option", "depth=[0,2]"], ["depth[0] = 0", "MAX_DEPTH"]),
    "search --space-option cut JSON": ([*NEW, "--space-option", "widths=[[8,"], ["'[[8,'", "e.g. [[16, 32]"]),
    "search --space-config width 2**32": (
        [*SPACE_FILE, "--space-config", "{T}/wide.toml"],
        ["widths[0][0] = 4294967296 is out of range", "MAX_WIDTH"],
    ),
    "search --space-config syntax": ([*SPACE_FILE, "--space-config", "{T}/syntax.toml"], ["syntax.toml", "parse"]),
    "search --space-config unknown option": (
        [*SPACE_FILE, "--space-config", "{T}/unknown.toml"],
        ["unknown option 'widht'", "valid options: widths"],
    ),
    "search --space-config yaml list": (
        [*SPACE_FILE, "--space-config", "{T}/list.yaml"],
        ["list.yaml", "must hold a table of options"],
    ),
    "search --space-config .json": ([*SPACE_FILE, "--space-config", "{T}/options.json"], ["use a .toml, .yaml"]),
    "search --space-config missing": (
        [*SPACE_FILE, "--space-config", "{T}/missing.toml"],
        ["missing.toml", "not found"],
    ),
    "search --space-config a directory": ([*SPACE_FILE, "--space-config", "{T}"], ["is a directory", ".toml"]),
    # ---- nas search: resuming with another definition ----------------------------------------
    "search resume with other --epochs": (
        [*OLD, "--epochs", "2"],
        ["search 'b' already exists with train={'epochs': 1} (now {'epochs': 2})", "pick a new --name"],
    ),
    "search resume with other space": (
        [*OLD, "--space-option", "depth=[1,3]"],
        ["already exists with space_options={'depth': [1, 2]} (now {'depth': [1, 3]})", "pick a new --name"],
    ),
    "search resume with other dataset": (
        [*OLD, "--dataset", "mnist"],
        ["already exists with dataset='synthetic' (now 'mnist')", "resume it with the same options"],
    ),
    # ---- nas search: bad --db URLs -------------------------------------------------------------
    'search --db ""': ([*NEW, "--db", ""], ["empty database URL ''", "give one like sqlite:///"]),
    "search --db notaurl": ([*NEW, "--db", "notaurl"], ["'notaurl'", "did you mean sqlite:///notaurl?"]),
    "search --db nosuch://": ([*NEW, "--db", "nosuch://x"], ["nosuch://x", "no SQLAlchemy dialect 'nosuch'"]),
    "search --db missing driver": ([*NEW, "--db", "mysql+pymysql://u@h/d"], ["mysql+pymysql", "pip install pymysql"]),
    "search --db unwritable": (
        [*NEW, "--db", "sqlite:////proc/nas-x/nas.db"],
        ["cannot create directory /proc/nas-x", "choose a writable location"],
    ),
    "search --db a directory": ([*NEW, "--db", "sqlite:///{T}"], ["is a directory", "give a file path"]),
    # ---- the read commands ---------------------------------------------------------------------
    "searches --format xml": (["searches", "--format", "xml"], ["--format 'xml'", "use table, json or csv"]),
    "searches --db missing": (["searches", "--db", "sqlite:///{T}/missing.db"], ["missing.db", "run a search first"]),
    "leaderboard --top 0": (["leaderboard", "--top", "0"], ["--top 0", "must be a positive integer"]),
    "leaderboard --top -1": (["leaderboard", "--top", "-1"], ["--top -1", "must be a positive integer"]),
    "leaderboard --top abc": (["leaderboard", "--top", "abc"], ["invalid int value: 'abc'", "nas leaderboard --help"]),
    "leaderboard --sort bogus": (["leaderboard", "--sort", "bogus"], ["--sort 'bogus'", "use one of val_accuracy"]),
    "leaderboard --search nosuch": (["leaderboard", "--search", "nosuch"], ["'nosuch'", "searches there: b"]),
    "leaderboard --format yaml": (["leaderboard", "--format", "yaml"], ["--format 'yaml'", "table, json or csv"]),
    "show 999999": (["show", "999999"], ["trial 999999"]),  # (a short number may also be a hash prefix)
    "show zzzz": (["show", "zzzz"], ["no architecture hash starts with 'zzzz'"]),
    "show --format gif": (["show", "0", "--format", "gif"], ["--format 'gif'", "use png, svg, dot"]),
    "show without a trial": (["show"], ["required: TRIAL|HASH", "nas show --help"]),
    "show --search nosuch": (["show", "zzzz", "--search", "nosuch"], ["'nosuch'", "searches there: b"]),
    "show --out unwritable": (
        ["show", "0", "--out", "/proc/nas-x.png"],
        ["--out '/proc/nas-x.png' cannot be written", "choose another --out"],
    ),
    "show --out in a missing directory": (
        ["show", "0", "--out", "{T}/nodir/a.png"],
        ["nodir' does not exist", "create it"],
    ),
    "show --out a directory": (["show", "0", "--format", "png", "--out", "{T}"], ["is a directory", "arch.png"]),
    # ---- nas evaluate (checked read-only before it opens the database to record), export, plot ----
    "evaluate --seeds 0": (["evaluate", "--seeds", "0"], ["--seeds 0", "must be a positive integer"]),
    "evaluate --top 0": (["evaluate", "--top", "0"], ["--top 0", "must be a positive integer"]),
    "evaluate --hash zzzz": (["evaluate", "--hash", "zzzz"], ["no architecture hash starts with 'zzzz'"]),
    "evaluate --search nosuch": (["evaluate", "--search", "nosuch"], ["'nosuch'", "searches there: b"]),
    "evaluate --epochs 0": (["evaluate", "--epochs", "0"], ["--epochs 0", "must be a positive integer"]),
    "evaluate --device tpu": (["evaluate", "--device", "tpu"], ["--device 'tpu' is invalid", "use 'auto', 'cpu'"]),
    "evaluate --batch-size 0": (["evaluate", "--batch-size", "0"], ["--batch-size 0 is invalid", "integer >= 1"]),
    "evaluate --lr 0": (["evaluate", "--lr", "0"], ["--lr 0.0 is invalid", "use a learning rate > 0"]),
    "evaluate --dataset unknown": (["evaluate", "--dataset", "unknown"], ["unknown dataset 'unknown'", "valid: "]),
    "evaluate --db someone else's": (
        ["evaluate", "--db", "sqlite:///{T}/other.db"],
        ["not a nas database", "written by `nas search`"],
    ),
    "evaluate --seed-list a,b": (["evaluate", "--seed-list", "a,b"], ["--seed-list 'a,b'", "non-negative integers"]),
    "evaluate --format yaml": (["evaluate", "--format", "yaml"], ["--format 'yaml'", "use table or json"]),
    "evaluate --db missing": (["evaluate", "--db", "sqlite:///{T}/missing.db"], ["missing.db", "run a search first"]),
    "export --trial 999": (["export", "--trial", "999", "--out", "{T}/e"], ["trial 999"]),
    "export --trial -1": (["export", "--trial", "-1", "--out", "{T}/e"], ["--trial -1", "an integer >= 0"]),
    "export --hash zzzz": (["export", "--hash", "zzzz", "--out", "{T}/e"], ["starts with 'zzzz'"]),
    "export --search nosuch": (["export", "--search", "nosuch", "--out", "{T}/e"], ["'nosuch'", "searches there"]),
    "export --trial and --hash": (
        ["export", "--trial", "0", "--hash", "1", "--out", "{T}/e"],
        ["--hash: not allowed with argument --trial"],
    ),
    "export --out a file": (["export", "--best", "--out", "{T}/good.json"], ["good.json' is a file", "directory"]),
    "export --retrain --epochs 0": (
        ["export", "--best", "--retrain", "--epochs", "0", "--out", "{T}/e"],
        ["--epochs 0", "must be a positive integer"],
    ),
    "export --arch missing": (
        ["export", "--arch", "{T}/missing.json", "--out", "{T}/e"],
        ["missing.json", "nas sample"],
    ),
    "export --arch bad JSON": (
        ["export", "--arch", "{T}/bad.json", "--out", "{T}/e"],
        ["--arch '{T}/bad.json'", "not valid JSON"],
    ),
    "export --arch cycle": (
        ["export", "--arch", "{T}/cycle.json", "--out", "{T}/e"],
        ["--arch '{T}/cycle.json'", "cycle through nodes [1, 2]"],
    ),
    "export --arch unknown op": (
        ["export", "--arch", "{T}/unknown-op.json", "--out", "{T}/e"],
        ["--arch '{T}/unknown-op.json'", "unknown op 'conv9x9'", "known ops"],
    ),
    "export --out unwritable": (
        ["export", "--best", "--out", "/proc/nas-x/e"],
        ["--out '/proc/nas-x/e' cannot be written", "choose another --out"],
    ),
    "export --arch --out unwritable": (
        ["export", "--arch", "{T}/good.json", "--out", "/proc/nas-x/e"],
        ["--out '/proc/nas-x/e' cannot be written", "choose another --out"],
    ),
    "export --input-shape 1,28": (
        ["export", "--arch", "{T}/good.json", "--input-shape", "1,28", "--out", "{T}/e"],
        ["--input-shape '1,28'", "such as 1,28,28"],
    ),
    "export --num-classes 0": (
        ["export", "--arch", "{T}/good.json", "--num-classes", "0", "--out", "{T}/e"],
        ["--num-classes 0", "must be a positive integer"],
    ),
    "plot --kind bogus": (["plot", "--kind", "bogus", "--out", "{T}/p"], ["kind 'bogus'", "choose from history"]),
    "plot --dpi 1": (["plot", "--dpi", "1", "--out", "{T}/p"], ["dpi 1", "use --dpi 150 or more"]),
    "plot --format gif": (["plot", "--format", "gif"], ["invalid choice: 'gif'", "nas plot --help"]),
    "plot --search nosuch": (["plot", "--search", "nosuch", "--out", "{T}/p"], ["'nosuch'", "searches there: b"]),
    "plot --out unwritable": (["plot", "--out", "/proc/nas-x"], ["--out '/proc/nas-x' cannot be written"]),
    "plot --out a file": (["plot", "--out", "{T}/good.json"], ["good.json' is a file, not a directory"]),
    "plot --db missing": (["plot", "--db", "sqlite:///{T}/missing.db"], ["missing.db", "run a search first"]),
    "plot --db someone else's": (["plot", "--db", "sqlite:///{T}/other.db"], ["not a nas database", "nas search"]),
}
#: commands that take no --db
NO_DB = ("sample", "train")


@pytest.fixture(scope="module")
def real_db(tmp_path_factory) -> Path:
    """The database of a real tiny search 'b' (2 trials), its writer closed: no -wal or -shm."""
    import db

    path = tmp_path_factory.mktemp("real") / "nas.db"
    assert main([*OLD, "--db", f"sqlite:///{path}"]) == 0
    db.connect(f"sqlite:///{path}").close()
    assert sorted(p.name for p in path.parent.iterdir()) == ["nas.db"]
    return path


def _state(folder: Path) -> dict[str, str]:
    """sha256 of every file in `folder`."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _setup(tmp_path: Path, real_db: Path) -> None:
    import sqlite3

    shutil.copy(real_db, tmp_path / "nas.db")
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    with sqlite3.connect(tmp_path / "other.db") as conn:  # someone else's database
        conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def _argv(case: str, tmp_path: Path, url: str) -> list[str]:
    argv, _ = CASES[case]
    argv = [a.replace("{T}", str(tmp_path)) for a in argv]
    if argv[0] not in NO_DB and "--db" not in argv:
        argv += ["--db", url]
    return argv


def _assert_one_line(rc: int, out: str, err: str, words: list[str]) -> None:
    assert rc == 2, (rc, err[-2000:])
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err[-2000:]
    assert lines[0].startswith("nas") and "error: " in lines[0], lines
    assert "Traceback" not in out + err and "[Errno" not in err, err[-2000:]
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.mark.parametrize("case", CASES)
def test_a_bad_input_is_refused_in_one_line_and_the_database_is_untouched(case, real_db, tmp_path, capsys):
    _setup(tmp_path, real_db)
    before = _state(tmp_path)
    rc, out, err = _run(capsys, _argv(case, tmp_path, f"sqlite:///{tmp_path / 'nas.db'}"))
    _assert_one_line(rc, out, err, [w.replace("{T}", str(tmp_path)) for w in CASES[case][1]])
    assert _state(tmp_path) == before  # byte-identical, nothing created beside it (not even -wal)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == []  # no --out left behind


SEARCH_CASES = [c for c in CASES if c.startswith("search ") and "--db" not in CASES[c][0] and "resume" not in c]


@pytest.mark.parametrize("case", SEARCH_CASES)
def test_a_refused_search_creates_no_database(case, real_db, tmp_path, capsys):
    _setup(tmp_path, real_db)
    missing = tmp_path / "new" / "nas.db"
    rc, out, err = _run(capsys, _argv(case, tmp_path, f"sqlite:///{missing}"))
    _assert_one_line(rc, out, err, CASES[case][1])
    assert not missing.parent.exists()


def test_there_are_at_least_60_cases():
    assert len(CASES) >= 60 and len(SEARCH_CASES) >= 40


def test_plot_reads_only_and_leaves_the_database_byte_identical(real_db, tmp_path, capsys):
    """`nas plot` opens the database read-only (its Optuna study too), like the read commands."""
    _setup(tmp_path, real_db)
    before = {k: v for k, v in _state(tmp_path).items()}
    rc, out, err = _run(
        capsys, ["plot", "--db", f"sqlite:///{tmp_path / 'nas.db'}", "--out", str(tmp_path / "p"), "--kind", "all"]
    )
    assert rc == 0, err[-2000:]
    assert "wrote" in out and (tmp_path / "p" / "history.png").exists()
    assert _state(tmp_path) == before
