"""The result commands (searches, leaderboard, show, evaluate, export, plot) on a real search.

One small real search (synthetic data, 6 random trials of 1 epoch, in-process executor) is run
once per session; tests that write (evaluate) work on a copy of its database. The CLI is driven
in-process through `nas.cli.main`; the export guarantees that need a clean interpreter (the
exported model.py imports with no `nas` package importable) run in a subprocess.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from pathlib import Path

import pytest
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import load_file, save_file

import db
from nas.cli import main
from nas.cli.leaderboard import COLUMNS
from nas.ir import Arch, build
from tests.helpers import run_isolated, run_tiny_search

REPO = Path(__file__).resolve().parents[2]
SEARCH = "results-t"


@pytest.fixture(scope="session")
def results_search(tmp_path_factory):
    """A finished real search: (db url, db path). Read-only for the tests that use it."""
    path = tmp_path_factory.mktemp("results") / "search.db"
    # save_weights: the export tests read any trial's stored weights
    url = run_tiny_search(path, SEARCH, subset=600, trials=6, save_weights="all")
    return url, path


def copy_db(src: Path, dst: Path) -> str:
    """A consistent copy of a SQLite database (WAL included), as a URL."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return f"sqlite:///{dst}"


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def evaluate_top1(capsys, url: str) -> dict:
    """`nas evaluate --top 1` (one seed, one epoch) as JSON: it exits 0 and reports one row, returned."""
    rc, out, err = cli(
        capsys,
        "evaluate",
        "--db",
        url,
        "--top",
        "1",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--no-progress",
        "--format",
        "json",
    )
    assert rc == 0, err
    (ev,) = json.loads(out)
    return ev


def lb_json(capsys, url: str, *extra: str) -> list[dict]:
    rc, out, err = cli(capsys, "leaderboard", "--db", url, "--format", "json", *extra)
    assert rc == 0, err
    return json.loads(out)


# ---- searches and leaderboard ------------------------------------------------------------------
def test_searches_lists_counts_state_and_best(results_search, capsys):
    url, _ = results_search
    trials = db.connect(url, create=False).trials(SEARCH)
    rc, out, _ = cli(capsys, "searches", "--db", url)
    assert rc == 0
    header = out.splitlines()[1].split()
    for col in ("name", "status", "trials", "complete", "pruned", "failed", "dup", "infeas", "interr", "best_val"):
        assert col in header
    line = next(ln for ln in out.splitlines() if ln.startswith(SEARCH))
    assert "finished" in line.split()
    rc, out, _ = cli(capsys, "searches", "--db", url, "--format", "json")
    (rec,) = json.loads(out)
    assert rec["name"] == SEARCH and rec["status"] == "finished" and rec["trials"] == len(trials) == 6
    for state in ("complete", "pruned", "failed", "duplicate", "infeasible", "interrupted"):
        assert rec[state] == sum(t.state == state for t in trials)
    best = max(t.val_accuracy for t in trials if t.state == "complete")
    assert rec["best_val_accuracy"] == pytest.approx(best)


def test_leaderboard_table_shows_columns_ranked_by_val_accuracy_and_legend(results_search, capsys):
    url, _ = results_search
    rc, out, _ = cli(capsys, "leaderboard", "--db", url)  # one search: no --search needed
    assert rc == 0
    lines = out.splitlines()
    header = lines[1].split()
    assert header == ["rank", "trial", "hash", "val_acc", "test_acc", "params", "flops", "epochs", "train_s", "arch"]
    rows = [ln.split() for ln in lines[3:] if re.match(r"\s*\d+\s", ln)]
    complete = [t for t in db.connect(url, create=False).trials(SEARCH) if t.state == "complete"]
    assert len(rows) == len(complete)
    vals = [float(r[3]) for r in rows]
    assert vals == sorted(vals, reverse=True)
    assert all(re.fullmatch(r"[0-9a-f]{8}", r[2]) for r in rows)
    assert all(re.fullmatch(r"g\d+ dw\d+ sh\d+ \+\d+ c\d+ L\d+", " ".join(r[-6:])) for r in rows)
    assert "g grouped convs" in out and "L long skips" in out  # the legend under the table


def test_leaderboard_json_and_csv_carry_the_same_full_columns(results_search, capsys):
    url, _ = results_search
    store = db.connect(url, create=False)
    records = lb_json(capsys, url)
    assert records and all(list(r) == list(COLUMNS) for r in records)
    for r in records:
        arch = store.get_architecture(r["hash"])
        assert len(r["hash"]) == 64 and arch.hash == r["hash"]
        assert r["summary"] == arch.summary == Arch.from_json(arch.canonical_json).summary()
        assert r["params"] == arch.params and r["flops"] == arch.flops
    rc, out, _ = cli(capsys, "leaderboard", "--db", url, "--format", "csv")
    assert rc == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == list(COLUMNS)
    assert [r["hash"] for r in rows] == [r["hash"] for r in records]
    assert [json.loads(r["summary"]) for r in rows] == [r["summary"] for r in records]
    assert [float(r["val_accuracy"]) for r in rows] == [r["val_accuracy"] for r in records]


def test_leaderboard_sort_top_and_pareto(results_search, capsys):
    url, _ = results_search
    full = lb_json(capsys, url)
    by_params = lb_json(capsys, url, "--sort", "params")
    assert [r["params"] for r in by_params] == sorted(r["params"] for r in full)
    assert [r["rank"] for r in by_params] == list(range(1, len(full) + 1))
    top2 = lb_json(capsys, url, "--top", "2")
    assert [r["hash"] for r in top2] == [r["hash"] for r in full[:2]]
    front = lb_json(capsys, url, "--pareto")
    assert front

    def dominates(a, b):
        return (
            a["val_accuracy"] >= b["val_accuracy"]
            and a["params"] <= b["params"]
            and (a["val_accuracy"] > b["val_accuracy"] or a["params"] < b["params"])
        )

    on_front = {r["hash"] for r in front}
    for r in full:  # the front is exactly the non-dominated rows
        assert (r["hash"] in on_front) == (not any(dominates(o, r) for o in full))


def test_leaderboard_unknown_sort_is_a_one_line_error(results_search, capsys):
    url, _ = results_search
    rc, out, err = cli(capsys, "leaderboard", "--db", url, "--sort", "bogus")
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "'bogus'" in err and "val_accuracy" in err


def test_leaderboard_with_several_searches_needs_search_or_all(results_search, capsys, tmp_path):
    _, path = results_search
    url = copy_db(path, tmp_path / "two.db")
    store = db.connect(url, create=False)
    store.create_or_get_search(
        "other",
        space="skipdag",
        space_options={},
        dataset="synthetic",
        train_config={},
        objectives=["val_accuracy"],
        config={},
        code_version="t",
        optuna_study_name="nas:other",
    )
    rc, out, err = cli(capsys, "leaderboard", "--db", url)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert SEARCH in err and "other" in err and "--search" in err
    assert len(lb_json(capsys, url, "--search", SEARCH)) == len(lb_json(capsys, url, "--all")) > 0
    rc, _, err = cli(capsys, "leaderboard", "--db", url, "--search", "nope")
    assert rc == 2 and "'nope'" in err
    rc, out, _ = cli(capsys, "leaderboard", "--db", url, "--all")
    assert rc == 0 and out.splitlines()[1].split()[0] == "search"


def test_read_only_commands_do_not_create_a_database(tmp_path, capsys):
    missing = tmp_path / "typo.db"
    for command in ("leaderboard", "searches", "plot"):
        rc, _, err = cli(capsys, command, "--db", f"sqlite:///{missing}")
        assert rc == 2 and "no database file" in err
    assert not missing.exists()


# ---- show ------------------------------------------------------------------------------------
def merged_row(records: list[dict]) -> dict:
    """A leaderboard row whose architecture has a merge, when the search found one."""
    return next((r for r in records if r["summary"]["add"] + r["summary"]["concat"]), records[0])


def test_show_prints_nodes_cost_and_trials_by_number_or_hash_prefix(results_search, capsys):
    url, _ = results_search
    row = merged_row(lb_json(capsys, url))
    arch = Arch.from_json(db.connect(url, create=False).get_architecture(row["hash"]).canonical_json)
    rc, out, _ = cli(capsys, "show", str(row["trial"]), "--db", url)
    assert rc == 0
    assert row["hash"] in out and f"{row['params']:,} params" in out
    node_lines = out.split("nodes (in order)")[1].split("trials of this architecture")[0]
    for i in arch.topological_order():
        n = arch.nodes[i]
        assert re.search(
            rf"^\s*{i}\s+{re.escape(n.op)}\s+\S+\s+{n.merge if len(n.inputs) > 1 else '-'}\s+{n.stage}"
            rf"\s+{n.width}\s",
            node_lines,
            re.M,
        ), (i, node_lines)
    assert re.search(rf"^{SEARCH}\*\s+{row['trial']}\s+complete\s+{row['val_accuracy']:.4f}", out, re.M)
    rc, out2, _ = cli(capsys, "show", row["hash"][:10], "--db", url)
    assert rc == 0 and out2.split("trials of this")[0] == out.split("trials of this")[0]
    rc, _, err = cli(capsys, "show", "999", "--db", url)
    assert rc == 2 and "999" in err and len(err.strip().splitlines()) == 1


def test_show_draws_dot_png_and_svg(results_search, capsys, tmp_path):
    url, _ = results_search
    row = merged_row(lb_json(capsys, url))
    arch = Arch.from_json(db.connect(url, create=False).get_architecture(row["hash"]).canonical_json)
    rc, dot, _ = cli(capsys, "show", str(row["trial"]), "--db", url, "--format", "dot")
    assert rc == 0 and dot.startswith("digraph arch {") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")
    for stage in {n.stage for n in arch.nodes}:
        assert f"subgraph cluster_stage{stage}" in dot
    edges = re.findall(r"^\s*n(\d+) -> n(\d+) \[(.*)\];$", dot, re.M)
    assert sorted((int(a), int(b)) for a, b, _ in edges) == sorted(arch.edges)
    for _, b, attrs in edges:
        dst = arch.nodes[int(b)]
        want = {"add": 'label="+"', "concat": 'label="cat"'}.get(dst.merge if len(dst.inputs) > 1 else None)
        assert (want in attrs) if want else ("label=" not in attrs)
    png = tmp_path / "arch.png"
    rc, out, _ = cli(capsys, "show", row["hash"][:8], "--db", url, "--out", str(png))
    assert rc == 0 and f"wrote {png}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    svg = tmp_path / "arch.svg"
    assert cli(capsys, "show", str(row["trial"]), "--db", url, "--format", "svg", "--out", str(svg))[0] == 0
    assert "<svg" in svg.read_text()[:500]
    dot_file = tmp_path / "arch.dot"
    assert cli(capsys, "show", str(row["trial"]), "--db", url, "--out", str(dot_file))[0] == 0
    assert dot_file.read_text().startswith("digraph")


# ---- evaluate ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def evaluated(results_search, tmp_path_factory):
    """A copy of the search after `nas evaluate --top 1 --seeds 1 --epochs 1`: (url, rc, stdout)."""
    from contextlib import redirect_stdout

    _, path = results_search
    url = copy_db(path, tmp_path_factory.mktemp("evaluated") / "eval.db")
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["evaluate", "--db", url, "--top", "1", "--seeds", "1", "--epochs", "1", "--no-progress"])
    return url, rc, buf.getvalue()


def test_evaluate_records_test_accuracy_that_the_leaderboard_then_shows(evaluated, capsys):
    url, rc, out = evaluated
    assert rc == 0
    store = db.connect(url, create=False)
    best = store.leaderboard(SEARCH)[0]
    (ev,) = store.evaluations(best.hash)
    assert ev.seed == 0 and ev.epochs == 1 and ev.search_name == SEARCH and 0.0 <= ev.test_accuracy <= 1.0
    assert re.search(rf"^\s*1\s+{best.trial}\s+{best.hash[:8]}\s.*{ev.test_accuracy:.4f} \(1\)", out, re.M)
    records = lb_json(capsys, url)
    assert records[0]["test_accuracy"] == pytest.approx(ev.test_accuracy)
    assert records[0]["test_seeds"] == 1 and records[0]["test_std"] is None
    assert all(r["test_accuracy"] is None for r in records[1:])
    rc, table, _ = cli(capsys, "leaderboard", "--db", url)
    assert f"{ev.test_accuracy:.4f} (1)" in table
    # the first seed's weights are kept for export, on the search's trial
    trial = store.get_trial(SEARCH, best.trial)
    assert [a.kind for a in store.artifacts(trial.id)] == ["final_weights", "weights"]
    rc, out, _ = cli(capsys, "leaderboard", "--db", url, "--sort", "test_accuracy", "--format", "json")
    assert json.loads(out)[0]["hash"] == best.hash


def test_evaluate_table_says_which_data_each_number_comes_from(evaluated):
    _, rc, out = evaluated
    assert rc == 0
    lines = out.splitlines()
    assert lines[1].split()[:5] == ["val_rank", "trial", "hash", "val_acc", "test_acc"]
    assert "the top 1 by validation accuracy" in lines[0] and "whole training split" in lines[0]
    notes = {ln.split(":", 1)[0]: ln.split(":", 1)[1] for ln in lines if re.match(r"^[a-z_ ]+: ", ln)}
    assert "the test split chose nothing" in notes["chosen by"]
    assert (
        "validation hold-out: 0.1 of the synthetic training split (--val-fraction), drawn with seed 0"
        in (notes["val_acc"])
    )
    assert "600-image subset" in notes["val_acc"]
    assert "whole synthetic training split (3000 images" in notes["retrained"]
    assert "synthetic test split (1000 images)" in notes["test_acc"] and "never used to choose" in notes["test_acc"]


def test_best_and_evaluate_choose_by_validation_when_another_trial_tests_better(results_search, capsys, tmp_path):
    """The trap: the runner-up by validation gets the best test accuracy (written through the real
    `Store.add_evaluation`); `export --best` and `evaluate --top 1` still take the best by validation."""
    import nas.final.export
    from nas.final.evaluate import select_rows
    from workers.datasets import load_dataset
    from workers.trainer import evaluate

    _, path = results_search
    url = copy_db(path, tmp_path / "trap.db")
    store = db.connect(url, create=False)
    rows = store.leaderboard(SEARCH)
    best = rows[0]
    runner_up = next(r for r in rows[1:] if r.hash != best.hash and r.val_accuracy < best.val_accuracy)
    final = {"protocol": "final", "dataset": "synthetic"}
    for seed, (good, bad) in enumerate([(0.99, 0.40), (0.98, 0.41), (0.97, 0.42)]):
        store.add_evaluation(runner_up.hash, SEARCH, seed, good, 0.05, 1, final)
        store.add_evaluation(best.hash, SEARCH, seed, bad, 2.0, 1, final)
    assert store.leaderboard(SEARCH, sort="test_accuracy")[0].hash == runner_up.hash  # best on test
    assert store.leaderboard(SEARCH)[0].hash == best.hash

    # export --best, on the command line, through the API, and as the default
    rc, out, err = cli(capsys, "export", "--db", url, "--best", "--out", str(tmp_path / "best"))
    assert rc == 0, err
    assert f"trial {best.trial} ({best.hash[:12]}; val {best.val_accuracy:.4f}, test 0.4100" in out
    assert "chosen by validation accuracy" in out
    source = (tmp_path / "best" / "model.py").read_text()
    assert best.hash in source and runner_up.hash not in source and "not by test accuracy" in source
    for kwargs in ({"best": True}, {}):
        res = nas.final.export.export(url, tmp_path / f"api{len(kwargs)}", **kwargs)
        assert (res.trial, res.arch_hash, res.selected_by) == (best.trial, best.hash, "best validation")
    # --hash of the runner-up exports the runner-up (asked for by name), with its test number shown
    res = nas.final.export.export(url, tmp_path / "named", hash=runner_up.hash[:10])
    assert res.arch_hash == runner_up.hash and res.selected_by == "hash" and res.test_accuracy == pytest.approx(0.98)

    # the leaderboard may sort by test accuracy, labelled as a display order only
    rc, table, _ = cli(capsys, "leaderboard", "--db", url, "--sort", "test_accuracy")
    assert rc == 0 and "by test_accuracy (display only)" in table.splitlines()[0]
    assert "choose by val_acc" in table

    # nas evaluate --top 1 chooses the best by validation, retrains it on the whole training split
    assert [r.hash for r in select_rows(store, SEARCH, top=1)] == [best.hash]
    ev = evaluate_top1(capsys, url)
    assert (ev["hash"], ev["trial"], ev["val_rank"], ev["selected_by"]) == (best.hash, best.trial, 1, "val_accuracy")
    assert ev["val_accuracy"] == pytest.approx(best.val_accuracy)
    whole = load_dataset("synthetic", val_fraction=0.0, seed=0)
    searched = load_dataset("synthetic", val_fraction=0.1, seed=0)
    assert ev["train_images"] == len(whole.train) == len(searched.train) + len(searched.val) == 3000
    assert ev["test_images"] == len(whole.test) == 1000
    assert set(ev["sources"]) == {"selection", "val_accuracy", "training", "test_accuracy"}
    assert "by validation accuracy" in ev["sources"]["selection"]
    # the reported test accuracy is the test split's: the stored final weights score it there
    trial = store.get_trial(SEARCH, best.trial)
    weights = load_safetensors(store.get_artifact(trial.id, "final_weights"))
    model = compiled_with(best.canonical_json, weights)
    _, acc = evaluate(model, whole.to("cpu").test, device="cpu")
    assert acc == pytest.approx(ev["test_accuracies"][0], abs=2e-3)


# ---- export ------------------------------------------------------------------------------------
STANDALONE = r"""sys.path.insert(0, sys.argv[1])
import torch
from safetensors.torch import load_file, save_file
from model import Net
model = Net()
model.load_state_dict(load_file(sys.argv[1] + "/weights.safetensors"), strict=True)
model.eval()
x = load_file(sys.argv[2])["x"]
with torch.no_grad():
    save_file({"y": model(x)}, sys.argv[3])
assert_no_project()
print("standalone ok")
"""


def standalone_outputs(out_dir: Path, x: torch.Tensor, work: Path) -> torch.Tensor:
    """Run DIR/model.py in `python -I` (no PYTHONPATH, cwd outside the repo) with the project's
    packages blocked by an import hook, so they cannot be imported even where pip installed them."""
    save_file({"x": x}, str(work / "x.safetensors"))
    proc = run_isolated(STANDALONE, [str(out_dir), str(work / "x.safetensors"), str(work / "y.safetensors")], work)
    assert "standalone ok" in proc.stdout
    return load_file(str(work / "y.safetensors"))["y"]


def compiled_with(arch_json: str, weights: dict, shape=(1, 28, 28)) -> torch.nn.Module:
    model = build(Arch.from_json(arch_json), shape, 10).eval()
    model.load_state_dict(weights, strict=True)
    return model


def test_export_best_writes_a_standalone_module_equal_to_the_compiled_one(results_search, capsys, tmp_path):
    url, _ = results_search
    store = db.connect(url, create=False)
    out = tmp_path / "best"
    rc, stdout, err = cli(capsys, "export", "--db", url, "--best", "--out", str(out))
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["arch.json", "hubconf.py", "model.py", "weights.safetensors"]
    best = store.leaderboard(SEARCH)[0]
    source = (out / "model.py").read_text()
    assert best.hash in source and repr(SEARCH) in source and f"trial {best.trial}" in source
    assert f"{best.val_accuracy:.4f}" in source
    assert "from safetensors.torch import load_file" in source
    assert 'model.load_state_dict(load_file("weights.safetensors"), strict=True)' in source
    imports = {ln.split()[1] for ln in source.splitlines() if ln.startswith(("import ", "from "))}
    assert imports == {"torch", "torch.nn", "torch.nn.functional"}
    arch = Arch.from_json((out / "arch.json").read_text())
    assert arch.hash() == best.hash
    # the exported weights are the trial's stored weights, tensor for tensor
    trial = store.get_trial(SEARCH, best.trial)
    stored = load_safetensors(store.get_artifact(trial.id, "weights"))
    exported = load_file(str(out / "weights.safetensors"))
    assert stored.keys() == exported.keys() and all(torch.equal(stored[k], exported[k]) for k in stored)
    # model.py in a clean interpreter == the compiled module with the same weights
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = standalone_outputs(out, x, tmp_path)
    with torch.no_grad():
        ref = compiled_with(best.canonical_json, exported)(x)
    assert y.dtype == torch.float32 and (y - ref).abs().max().item() <= 1e-5


def test_export_api_and_load(results_search, tmp_path):
    import nas.final.export

    url, _ = results_search
    store = db.connect(url, create=False)
    row = store.leaderboard(SEARCH, sort="params")[0]
    res = nas.final.export.export(url, tmp_path / "api", trial=row.trial)
    assert (res.search, res.trial, res.arch_hash, res.weights_source) == (SEARCH, row.trial, row.hash, "weights")
    assert sorted(res.files) == ["arch.json", "hubconf.py", "model.py", "weights.safetensors"]
    assert res.input_shape == (1, 28, 28) and res.num_classes == 10 and res.params == row.params
    model = nas.final.export.load(tmp_path / "api")
    assert not model.training
    x = torch.randn(3, 1, 28, 28)
    ref = compiled_with(row.canonical_json, load_file(str(tmp_path / "api" / "weights.safetensors")))
    with torch.no_grad():
        assert (model(x) - ref(x)).abs().max().item() <= 1e-5
    # a weights file that does not fit the module is refused (strict loading)
    bad = load_file(str(tmp_path / "api" / "weights.safetensors"))
    bad.pop(next(k for k in bad if k.endswith(".weight")))
    save_file(bad, str(tmp_path / "api" / "weights.safetensors"))
    with pytest.raises(RuntimeError, match="Missing key"):
        nas.final.export.load(tmp_path / "api")


def test_export_refuses_a_non_empty_dir_unless_forced(results_search, capsys, tmp_path):
    url, _ = results_search
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "model.py").write_text("stale")
    rc, stdout, err = cli(capsys, "export", "--db", url, "--trial", "0", "--out", str(out))
    assert rc == 2 and stdout == ""
    assert len(err.strip().splitlines()) == 1 and "--force" in err
    assert sorted(p.name for p in out.iterdir()) == ["model.py", "notes.txt"]
    assert (out / "model.py").read_text() == "stale"
    rc, _, err = cli(capsys, "export", "--db", url, "--trial", "0", "--out", str(out), "--force")
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "arch.json",
        "hubconf.py",
        "model.py",
        "notes.txt",
        "weights.safetensors",
    ]
    assert (out / "notes.txt").read_text() == "mine" and "class Net(nn.Module)" in (out / "model.py").read_text()


def test_export_prefers_final_weights_and_retrains_on_request(evaluated, capsys, tmp_path):
    import nas.final.export

    url, _, _ = evaluated
    store = db.connect(url, create=False)
    best = store.leaderboard(SEARCH)[0]  # the evaluated one
    trial = store.get_trial(SEARCH, best.trial)
    res = nas.final.export.export(url, tmp_path / "final", best=True)
    assert res.trial == best.trial and res.weights_source == "final_weights"
    assert res.test_accuracy == pytest.approx(best.test_accuracy)
    final = load_safetensors(store.get_artifact(trial.id, "final_weights"))
    exported = load_file(str(tmp_path / "final" / "weights.safetensors"))
    assert all(torch.equal(final[k], exported[k]) for k in final)
    assert "by `nas evaluate`" in (tmp_path / "final" / "model.py").read_text()
    rc, out, err = cli(
        capsys,
        "export",
        "--db",
        url,
        "--hash",
        best.hash[:8],
        "--retrain",
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "re"),
    )
    assert rc == 0, err
    assert "trained now with the final protocol" in out
    retrained = load_file(str(tmp_path / "re" / "weights.safetensors"))
    assert retrained.keys() == final.keys()
    assert "at export (1 epochs, seed 0)" in (tmp_path / "re" / "model.py").read_text()
    assert len(store.evaluations(best.hash)) == 1  # export records nothing


def test_export_onnx(results_search, capsys, tmp_path):
    import importlib.util

    url, _ = results_search
    out = tmp_path / "onnx"
    rc, _, err = cli(capsys, "export", "--db", url, "--trial", "0", "--out", str(out), "--onnx")
    if importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxscript") is None:
        assert rc == 2 and "pip install onnx onnxscript" in err and len(err.strip().splitlines()) == 1
        assert not out.exists()
        return
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "arch.json",
        "hubconf.py",
        "model.onnx",
        "model.py",
        "weights.safetensors",
    ]
    import onnx

    onnx.checker.check_model(onnx.load(str(out / "model.onnx")))
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime

        import nas.final.export

        x = torch.randn(3, 1, 28, 28)
        with torch.no_grad():
            ref = nas.final.export.load(out)(x).numpy()
        got = onnxruntime.InferenceSession(str(out / "model.onnx")).run(None, {"input": x.numpy()})[0]
        assert abs(got - ref).max() <= 1e-4


def test_result_code_never_unpickles():
    files = sorted(
        str(p.relative_to(REPO)) for pkg in ("nas/final", "nas/viz", "nas/cli") for p in (REPO / pkg).glob("*.py")
    )
    assert len(files) >= 14
    for f in files:
        text = (REPO / f).read_text()
        assert not re.search(r"\bimport pickle|\bpickle\.|Unpickler", text), f
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, (f, call)


# ---- plot --------------------------------------------------------------------------------------
def test_plot_writes_three_pngs(results_search, capsys, tmp_path):
    url, _ = results_search
    rc, out, err = cli(capsys, "plot", "--db", url, "--search", SEARCH, "--out", str(tmp_path / "p"))
    assert rc == 0, err
    names = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert names == ["history.png", "ops.png", "pareto.png"]
    for n in names:
        data = (tmp_path / "p" / n).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 15_000
        assert f"wrote {tmp_path / 'p' / n}" in out
