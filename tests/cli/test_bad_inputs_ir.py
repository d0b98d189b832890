"""Bad architectures, search-space options and outputs through the real CLI: exit 2, one line.

Every bad input here is refused before anything is trained or written, in one line on stderr
that names the bad value, without a traceback or a bare ``[Errno N]``: the input limits
(`nas.ir.limits`), the declared schemas (`nas.ir.schema`, `search_spaces.schema`) and the
checks of ``--out`` (`nas.cli.train`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nas.cli import main
from nas.ir.limits import MAX_ARCH_BYTES, MAX_FAN_IN, MAX_NODES, MAX_STAGES, MAX_WIDTH

REPO = Path(__file__).resolve().parents[2]


def cli(capsys, *argv):
    """(exit status, stdout, stderr) of `nas ARGV` run in this process."""
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:  # argparse
        rc = e.code
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def assert_one_line_error(rc, err, *words):
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nas: error: "), err
    assert "Traceback" not in err and "[Errno" not in err, err
    for w in words:
        assert w in lines[0], (w, err)


# ---- architecture files: nas train --arch ----------------------------------------------------
def node(op="conv3x3", merge=None, inputs=(0,), stage=0, width=8, **extra):
    return {"op": op, "merge": merge, "inputs": list(inputs), "stage": stage, "width": width, **extra}


def arch_doc(*middle, **top):
    """input -> middle nodes (as given) -> output reading the last of them."""
    nodes = [node("input", inputs=()), *middle, node("output", inputs=(len(middle),))]
    return json.dumps({"schema": "nas.arch/1", "nodes": nodes, **top})


def chain_doc(n):
    return arch_doc(*(node(inputs=(i,)) for i in range(n - 2)))


BAD_ARCHS = {
    "not json": ("{not json", ["not valid JSON"]),
    "truncated json": (arch_doc(node())[:-5], ["not valid JSON", "EOF"]),
    "nested too deep": ("[" * 50_000, ["not valid JSON", "recursion limit"]),
    "NaN": ('{"schema": "nas.arch/1", "nodes": NaN}', ["not valid JSON"]),
    "a list": ("[1, 2]", ["[1, 2]", "wrong type (list)"]),
    "other schema": ('{"schema": "nas.arch/9", "nodes": []}', ["schema = 'nas.arch/9'", "'nas.arch/1'"]),
    "missing key": (
        '{"schema": "nas.arch/1", "nodes": [{"op": "conv9x9"}]}',
        ["node 0 (conv9x9)", "missing key 'merge'"],
    ),
    "unknown node key": (arch_doc(node(kernel=3)), ["node 1 (conv3x3)", "unknown key 'kernel'"]),
    "unknown top key": (arch_doc(node(), name="x"), ["unknown key 'name'"]),
    "width as text": (arch_doc(node(width="8")), ["width = '8'", "wrong type (str)"]),
    "width zero": (arch_doc(node(width=0)), ["width = 0 is out of range", f"1 to {MAX_WIDTH}"]),
    "width negative": (arch_doc(node(width=-16)), ["width = -16 is out of range"]),
    "width 1e9 float": (arch_doc(node(width=1e9)), ["width = 1000000000.0", "wrong type (float)"]),
    "width 1e9": (arch_doc(node(width=10**9)), ["width = 1000000000 is out of range", "MAX_WIDTH"]),
    "width 2**32": (arch_doc(node(width=2**32)), ["width = 4294967296 is out of range"]),
    "width 2**64": (arch_doc(node(width=2**64)), ["width = 18446744073709551616 is out of range"]),
    "width bool": (arch_doc(node(width=True)), ["width = True", "wrong type (bool)"]),
    "stage huge": (arch_doc(node(stage=10**12)), ["stage = 1000000000000 is out of range", "MAX_STAGES"]),
    "stage over limit": (
        arch_doc(node(stage=MAX_STAGES), node(inputs=(1,), stage=MAX_STAGES)),
        [f"stage = {MAX_STAGES}"],
    ),
    "10k nodes": (chain_doc(10_000), ["nodes has 10000 items", f"more than {MAX_NODES}", "MAX_NODES"]),
    "cycle": (arch_doc(node(inputs=(2,)), node(inputs=(1,))), ["cycle through nodes [1, 2];"]),
    "dangling input": (arch_doc(node(inputs=(7,))), ["input 7 does not exist", "nodes are 0..2"]),
    "negative input": (arch_doc(node(inputs=(-1,))), ["inputs[0] = -1 is out of range"]),
    "input as text": (arch_doc(node(inputs=("0",))), ["inputs[0] = '0'", "wrong type (str)"]),
    "fan-in over limit": (arch_doc(node(inputs=[0] * (MAX_FAN_IN + 44))), ["inputs has 300 items", "MAX_FAN_IN"]),
    "self input": (arch_doc(node(inputs=(1,))), ["node 1 (conv3x3): takes itself as input"]),
    "unknown op": (arch_doc(node(op="conv9x9")), ["unknown op 'conv9x9'", "known ops: conv3x3"]),
    "op not text": (arch_doc(node(op=3)), ["op = 3", "wrong type (int)"]),
    "huge group count": (arch_doc(node(op="gconv3x3_g99999", width=16)), ["99999 groups", "MAX_WIDTH"]),
    "unknown merge": (arch_doc(node(merge="mul")), ["merge = 'mul' is not allowed", "'add', 'concat' or null"]),
    "missing merge": (arch_doc(node(), node(inputs=(0, 1))), ["node 2 (conv3x3): 2 inputs need a merge"]),
}


@pytest.mark.parametrize("name", BAD_ARCHS)
def test_train_refuses_a_bad_arch_file(name, tmp_path, capsys):
    text, words = BAD_ARCHS[name]
    path = tmp_path / "arch.json"
    path.write_text(text)
    out = tmp_path / "out"
    rc, _, err = cli(capsys, "train", "--arch", path, "--dataset", "synthetic", "--out", out)
    assert_one_line_error(rc, err, f"--arch {str(path)!r}", *words)
    assert not out.exists()


def test_train_refuses_an_arch_path_that_is_a_directory(tmp_path, capsys):
    rc, _, err = cli(capsys, "train", "--arch", tmp_path, "--dataset", "synthetic", "--out", tmp_path / "o")
    assert_one_line_error(rc, err, "is a directory", str(tmp_path))


def test_train_refuses_an_arch_file_over_the_size_limit_unread(tmp_path, capsys):
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:
        f.truncate(MAX_ARCH_BYTES + 1)  # sparse: nothing is written
    rc, _, err = cli(capsys, "train", "--arch", path, "--dataset", "synthetic", "--out", tmp_path / "o")
    assert_one_line_error(rc, err, f"{MAX_ARCH_BYTES + 1:,} bytes", "MAX_ARCH_BYTES")


def test_a_10k_node_chain_is_refused_in_seconds_in_a_fresh_process(tmp_path):
    """The hang this guards against was in the hashing: here it must not even start."""
    path = tmp_path / "chain.json"
    path.write_text(chain_doc(10_000))
    done = subprocess.run(
        [sys.executable, "-m", "nas", "train", "--arch", str(path), "--dataset", "synthetic"]
        + ["--out", str(tmp_path / "out")],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert_one_line_error(done.returncode, done.stderr, "nodes has 10000 items", f"more than {MAX_NODES}")
    assert not (tmp_path / "out").exists()


# ---- outputs: nas train --out, nas sample --out ----------------------------------------------
@pytest.fixture
def good_arch(tmp_path):
    path = tmp_path / "good.json"
    path.write_text(arch_doc(node(), node(inputs=(1,))))
    return path


def _proc_dir():
    if not os.path.isdir("/proc/self"):
        pytest.skip("needs a Linux /proc, where nothing can be created")
    return "/proc/nas-cannot-write-here"


BAD_TRAIN_OUTS = {
    "a file": (lambda t: t / "file.txt", ["is a file, not a directory", "file.txt"]),
    "under a file": (lambda t: t / "file.txt" / "out", ["is a file, not a directory", "file.txt"]),
    "unwritable place": (lambda t: _proc_dir(), ["cannot be written", "/proc/nas-cannot-write-here"]),
    "empty": (lambda t: "", ["--out ''", "give a directory path"]),
    "a directory in the way": (lambda t: t / "blocked", ["holds a directory 'weights.safetensors'"]),
    "name too long": (lambda t: t / ("x" * 300), ["cannot be written", "File name too long"]),
}


@pytest.mark.parametrize("name", BAD_TRAIN_OUTS)
def test_train_checks_out_before_loading_data(name, good_arch, tmp_path, capsys):
    (tmp_path / "file.txt").write_text("mine")
    (tmp_path / "blocked" / "weights.safetensors").mkdir(parents=True)
    make, words = BAD_TRAIN_OUTS[name]
    out = make(tmp_path)
    # an unknown dataset fails when the data is loaded: --out must be refused before that
    rc, _, err = cli(capsys, "train", "--arch", good_arch, "--dataset", "no-such-dataset", "--out", out)
    assert_one_line_error(rc, err, "--out", *words)
    assert (tmp_path / "file.txt").read_text() == "mine"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes through permissions")
def test_train_refuses_a_read_only_out(good_arch, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        rc, _, err = cli(capsys, "train", "--arch", good_arch, "--dataset", "nope", "--out", locked / "run")
    finally:
        locked.chmod(0o700)
    assert_one_line_error(rc, err, "cannot be written", "Permission denied")


def test_train_out_check_leaves_nothing_behind(good_arch, tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "run"
    rc, _, err = cli(capsys, "train", "--arch", good_arch, "--dataset", "no-such-dataset", "--out", out)
    assert rc == 2 and "no-such-dataset" in err  # --out was fine: the dataset is what failed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.json"]


BAD_SAMPLE_OUTS = {
    "a directory": (lambda t: t, ["is a directory"]),
    "missing directory": (lambda t: t / "nowhere" / "a.json", ["does not exist", "nowhere"]),
    "under a file": (lambda t: t / "file.txt" / "a.json", ["is a file, not a directory"]),
    "unwritable place": (lambda t: _proc_dir() + ".json", ["cannot be written"]),
    "empty": (lambda t: "", ["--out ''", "give a file name"]),
}


@pytest.mark.parametrize("name", BAD_SAMPLE_OUTS)
def test_sample_checks_out_first(name, tmp_path, capsys):
    (tmp_path / "file.txt").write_text("mine")
    make, words = BAD_SAMPLE_OUTS[name]
    rc, out, err = cli(capsys, "sample", "--out", make(tmp_path))
    assert_one_line_error(rc, err, "--out", *words)
    assert out == "" and (tmp_path / "file.txt").read_text() == "mine"


# ---- search-space options: nas sample --space-config ------------------------------------------
BAD_SPACE_CONFIGS = {
    "width 2**32": ("widths = [[4294967296]]", ["widths[0][0] = 4294967296 is out of range", "MAX_WIDTH"]),
    "width zero": ("widths = [[16, 0]]", ["widths[0][1] = 0 is out of range"]),
    "width negative": ("widths = [[-8]]", ["widths[0][0] = -8 is out of range"]),
    "width as float": ("widths = [[16.0]]", ["widths[0][0] = 16.0", "wrong type (float)"]),
    "width as text": ('widths = [["16"]]', ["widths[0][0] = '16'", "wrong type (str)"]),
    "widths not nested": ("widths = [16, 32]", ["widths[0] = 16", "wrong type (int)"]),
    "too many stages": ("widths = [" + ", ".join(["[8]"] * 17) + "]", ["widths has 17 items", "MAX_STAGES"]),
    "empty stage": ("widths = [[]]", ["widths[0] has 0 items"]),
    "depth huge": ("depth = [1, 1000000]", ["depth[1] = 1000000 is out of range", "MAX_DEPTH"]),
    "depth zero": ("depth = [0, 2]", ["depth[0] = 0 is out of range"]),
    "depth one number": ("depth = 3", ["depth = 3", "wrong type (int)"]),
    "depth reversed": ("depth = [3, 1]", ["'depth'", "[3, 1]"]),
    "too many nodes": ("widths = [" + ", ".join(["[8]"] * 16) + "]\ndepth = [1, 256]", ["4098 nodes", "MAX_NODES"]),
    "unknown option": ("widht = [[16]]", ["unknown option 'widht'", "valid options: widths"]),
    "unknown op": ('ops = ["conv7x7"]', ["ops[0] = 'conv7x7' is not allowed", "conv3x3"]),
    "no ops": ("ops = []", ["ops has 0 items"]),
    "unknown merge": ('merges = ["mul"]', ["merges[0] = 'mul' is not allowed"]),
    "max_skips huge": ("max_skips = 1000", ["max_skips = 1000 is out of range", f"0 to {MAX_FAN_IN - 1}"]),
    "max_skips negative": ("max_skips = -1", ["max_skips = -1 is out of range"]),
    "long_skips as number": ("long_skips = 1", ["long_skips = 1", "wrong type (int)", "true or false"]),
    "group zero": ("groups = [0, 4]", ["groups[0] = 0 is out of range"]),
    "width not divisible by groups": ("widths = [[18]]\ngroups = [2, 4]", ["width 18 of stage 0", "multiples of 4"]),
    "toml syntax": ("widths = [[8,", ["does not parse"]),
}


@pytest.mark.parametrize("name", BAD_SPACE_CONFIGS)
def test_sample_refuses_bad_space_options(name, tmp_path, capsys):
    text, words = BAD_SPACE_CONFIGS[name]
    config = tmp_path / "space.toml"
    config.write_text(text + "\n")
    out = tmp_path / "arch.json"
    rc, stdout, err = cli(capsys, "sample", "--space-config", config, "--out", out)
    assert_one_line_error(rc, err, *words)
    assert stdout == "" and not out.exists()


@pytest.mark.parametrize(
    "text, words",
    [
        ("widths: [[4294967296]]\n", ["widths[0][0] = 4294967296 is out of range"]),
        ("long_skips: yes-please\n", ["long_skips = 'yes-please'", "wrong type (str)"]),
        ("- 1\n- 2\n", ["must hold a table of options"]),
        (": : :\n", ["does not parse"]),
    ],
)
def test_sample_refuses_bad_yaml_space_options(text, words, tmp_path, capsys):
    config = tmp_path / "space.yaml"
    config.write_text(text)
    rc, _, err = cli(capsys, "sample", "--space-config", config)
    assert_one_line_error(rc, err, *words)


def test_space_config_file_must_exist_and_be_small(tmp_path, capsys):
    rc, _, err = cli(capsys, "sample", "--space-config", tmp_path / "missing.toml")
    assert_one_line_error(rc, err, "missing.toml", "not found")
    big = tmp_path / "big.toml"
    big.write_text("# pad\n" * 300_000)
    rc, _, err = cli(capsys, "sample", "--space-config", big)
    assert_one_line_error(rc, err, "1,800,000 bytes", "MAX_OPTIONS_BYTES")


def test_the_largest_accepted_values_still_work(tmp_path, capsys):
    """The limits refuse the absurd, not the big: a MAX_WIDTH space samples, and trains' checks pass."""
    config = tmp_path / "space.toml"
    config.write_text(f"widths = [[{MAX_WIDTH}]]\ndepth = [1, 1]\nops = ['conv1x1']\nmax_skips = 0\n")
    out = tmp_path / "arch.json"
    rc, _, err = cli(capsys, "sample", "--space-config", config, "--out", out)
    assert rc == 0, err
    assert max(n["width"] for n in json.loads(out.read_text())["nodes"]) == MAX_WIDTH
    rc, _, err = cli(capsys, "sample", "--space-config", config, "--out", out)  # replaces it whole
    assert rc == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arch.json", "space.toml"]
