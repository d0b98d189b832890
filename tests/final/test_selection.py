"""Selection never sees the test split, in a multi-objective search too.

`nas export --best` takes the trial on the Pareto front of the search's objectives with the best
validation accuracy (ties: the other objectives in order), and `nas evaluate --top K` takes the
first K by the same order, so its first is the export's pick. Everything runs on a real search
(synthetic data, 6 random trials of 1 epoch, objectives val_accuracy and params); the test
numbers that try to lure the choice away are written with the real `Store.add_evaluation`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import db
from nas.final.evaluate import best_by_validation, pareto_front, rank_by_validation, search_objectives, select_rows
from nas.final.export import select
from tests.cli.test_cli_results import cli, copy_db, evaluate_top1
from tests.helpers import run_tiny_search

MO = "select-mo"
OBJECTIVES = ("val_accuracy", "params")


@pytest.fixture(scope="module")
def multi_search(tmp_path_factory) -> Path:
    """A finished real multi-objective search (the same as tests/cli/test_cli_results.py's
    `results_search`, with --objectives val_accuracy,params): its database path, read-only."""
    path = tmp_path_factory.mktemp("select") / "mo.db"
    run_tiny_search(path, MO, subset=600, trials=6, objectives=OBJECTIVES)
    return path


def dominates(a, b) -> bool:
    """a is at least as good as b on (max val_accuracy, min params) and better on one."""
    return (
        a.val_accuracy >= b.val_accuracy
        and a.params <= b.params
        and (a.val_accuracy > b.val_accuracy or a.params < b.params)
    )


def test_multi_objective_best_is_the_pareto_optimal_trial_with_the_best_validation(multi_search, capsys, tmp_path):
    url = copy_db(multi_search, tmp_path / "mo.db")
    store = db.connect(url, create=False)
    assert store.get_search(MO).objectives == OBJECTIVES == search_objectives(store, MO)
    rows = store.leaderboard(MO)
    assert len(rows) >= 2
    front = [r for r in rows if not any(dominates(o, r) for o in rows)]
    want = max(front, key=lambda r: (r.val_accuracy, -r.params, -r.trial))
    # the product's front is the same set, and so is the leaderboard's --pareto (val vs params)
    assert {r.hash for r in pareto_front(rows, OBJECTIVES)} == {r.hash for r in front}
    assert {r.hash for r in store.leaderboard(MO, pareto=True)} == {r.hash for r in front}

    # lure: every other trial tests better than the one validation picks
    final = {"protocol": "final", "dataset": "synthetic"}
    for r in rows:
        for seed in (0, 1):
            store.add_evaluation(r.hash, MO, seed, 0.30 if r.hash == want.hash else 0.95 + seed / 100, 1.0, 1, final)
    assert store.leaderboard(MO, sort="test_accuracy")[-1].hash == want.hash  # the worst on test

    name, t = select(store, best=True)
    assert (name, t.optuna_number, t.arch_hash) == (MO, want.trial, want.hash)
    assert select(store)[1].optuna_number == want.trial  # --best is the default
    rc, out, err = cli(capsys, "export", "--db", url, "--best", "--out", str(tmp_path / "best"))
    assert rc == 0, err
    assert f"exported {MO} trial {want.trial} ({want.hash[:12]};" in out and "chosen by validation accuracy" in out

    # nas evaluate takes the same trial first, then the rest by validation accuracy
    ranked = select_rows(store, MO, top=len(rows))
    assert ranked[0].hash == want.hash
    vals = [r.val_accuracy for r in ranked]
    assert vals == sorted(vals, reverse=True)
    ev = evaluate_top1(capsys, url)
    assert (ev["hash"], ev["trial"], ev["val_rank"]) == (want.hash, want.trial, 1)
    assert "by validation accuracy (ties: params)" in ev["sources"]["selection"]


def test_ties_in_validation_go_to_the_search_objectives_in_order(multi_search, tmp_path):
    """With every validation accuracy tied, the choice is the Pareto-optimal row of the remaining
    objectives: the fewest params for (val_accuracy, params), the fewest flops for
    (val_accuracy, flops); and it is always what `nas evaluate --top` ranks first."""
    store = db.connect(f"sqlite:///{multi_search}", create=False)
    rows = store.leaderboard(MO)
    top = max(r.val_accuracy for r in rows)
    tied = [dataclasses.replace(r, val_accuracy=top) for r in rows]
    for objectives, field in ((("val_accuracy", "params"), "params"), (("val_accuracy", "flops"), "flops")):
        pick = best_by_validation(tied, objectives)
        assert getattr(pick, field) == min(getattr(r, field) for r in rows)
        assert pick in pareto_front(tied, objectives)
        assert rank_by_validation(tied, objectives)[0] == pick
    # a single-objective search: the best validation accuracy, as the leaderboard ranks it
    assert best_by_validation(rows, ("val_accuracy",)) == rank_by_validation(rows)[0] == rows[0]
    assert (
        best_by_validation(rows, OBJECTIVES).hash
        == max(pareto_front(rows, OBJECTIVES), key=lambda r: (r.val_accuracy, -r.params, -r.trial)).hash
    )


def test_final_training_refuses_data_that_still_holds_out_validation(multi_search):
    """The final protocol trains on the validation hold-out again: data with one is refused."""
    from nas.final.protocol import FinalConfig, final_train
    from nas.ir import Arch
    from workers.datasets import load_dataset

    store = db.connect(f"sqlite:///{multi_search}", create=False)
    arch = Arch.from_json(store.leaderboard(MO)[0].canonical_json)
    data = load_dataset("synthetic", val_fraction=0.1, seed=0)
    with pytest.raises(ValueError, match="whole training split.*val_fraction=0"):
        final_train(arch, data=data, train=FinalConfig.train_config(epochs=1, device="cpu"))
