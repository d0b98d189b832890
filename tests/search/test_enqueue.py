"""--enqueue-preset / --enqueue: known designs trained first, through Optuna's enqueue_trial."""

from __future__ import annotations

import json
import subprocess
import sys

import optuna

import db
import search_spaces
from nas.cli.main import main
from search_spaces.presets import preset

ARGS = ["--dataset", "synthetic", "--subset", "300", "--epochs", "1", "--executor", "local", "--no-progress"]


def test_designs_and_presets_train_first_and_rank(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/nas.db"
    arch_file = tmp_path / "a.json"
    arch_file.write_text(preset("shufflenet_v2_x1_0", (1, 28, 28)).to_json())
    rc = main(
        ["search", "--db", url, "--name", "e", "--trials", "3", *ARGS]
        + ["--enqueue-preset", "resnet_32_64_128", "--enqueue-preset", "mobilenet_v2", "--enqueue", str(arch_file)]
    )
    assert rc == 0
    trials = {t.optuna_number: t for t in db.connect(url).trials("e")}
    design = search_spaces.get("skipdag").designs()["resnet_32_64_128"]
    study = optuna.load_study(study_name="nas:e", storage=url)
    first = {t.number: t for t in study.trials}
    assert first[0].params == design  # a design: the space's own parameters, which TPE learns from
    assert trials[0].params == 696_042
    assert trials[1].arch_hash == preset("mobilenet_v2", (1, 28, 28)).hash()
    assert trials[2].arch_hash == preset("shufflenet_v2_x1_0", (1, 28, 28)).hash()
    assert all(t.state == "complete" for t in trials.values())
    capsys.readouterr()
    assert main(["leaderboard", "--db", url, "--format", "json"]) == 0
    ranked = json.loads(capsys.readouterr().out)
    rows = ranked if isinstance(ranked, list) else ranked.get("rows", ranked.get("trials", []))
    assert {r["hash"][:8] for r in rows} >= {trials[1].arch_hash[:8], trials[2].arch_hash[:8]}
    # resumed with the same flags: nothing is enqueued (or trained) twice
    assert main(["search", "--db", url, "--name", "e", "--trials", "4", *ARGS, "--enqueue-preset", "mobilenet_v2"]) == 0
    assert (
        sum(
            t.user_attrs.get("enqueued") == "preset:mobilenet_v2"
            for t in optuna.load_study(study_name="nas:e", storage=url).trials
        )
        == 1
    )


def test_unknown_names_and_bad_files_are_refused_before_anything_is_written(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    for extra, words in (
        (["--enqueue-preset", "resnet19"], ["resnet19", "resnet18", "resnet_32_64_128"]),
        (["--enqueue", str(bad)], [str(bad), "neither an architecture"]),
        (["--enqueue", str(tmp_path / "missing.json")], ["missing.json", "cannot be read"]),
    ):
        r = subprocess.run(
            [sys.executable, "-m", "nas", "search", "--db", f"sqlite:///{tmp_path}/x.db", *ARGS, *extra],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 2, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
        assert all(w in r.stderr for w in words), r.stderr
        assert not (tmp_path / "x.db").exists()
