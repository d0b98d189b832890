"""Optuna first class (metric names, per-trial user attributes) and the trackers (--tensorboard,
--mlflow), each read back with the library's own reader after a real, tiny in-process search."""

from __future__ import annotations

import json

import optuna
import pytest

import db
from nas.ir import Arch
from nas.search.config import ConfigError, SearchConfig
from nas.search.driver import run_search
from nas.search.tracking import Trackers, open_trackers

TINY = {"widths": [[8], [16]], "depth": [1, 2], "max_skips": 1}


def config(tmp_path, name="s", **kw) -> SearchConfig:
    base = dict(
        name=name,
        db=f"sqlite:///{tmp_path}/nas.db",
        dataset="synthetic",
        subset=300,
        trials=3,
        executor="local",
        sampler="random",
        pruner="none",
        train={"epochs": 2, "batch_size": 64},
        space_options=TINY,
    )
    base.update(kw)
    return SearchConfig(**base)


def trained(study):
    return [t for t in study.trials if "epochs" in t.user_attrs]


def test_optuna_study_has_metric_names_and_every_trial_its_attributes(tmp_path):
    cfg = config(tmp_path, objectives=("val_accuracy", "params"))
    run_search(cfg)
    study = optuna.load_study(study_name=f"nas:{cfg.name}", storage=cfg.db)
    assert study.metric_names == ["val_accuracy", "params"]
    store = db.connect(cfg.db)
    rows = {t.optuna_number: t for t in store.trials(cfg.name)}
    assert len(study.trials) == 3
    for t in study.trials:
        attrs = t.user_attrs
        arch = Arch.from_json(attrs["arch"])
        assert arch.hash() == attrs["arch_hash"] == rows[t.number].arch_hash
        assert isinstance(attrs["params"], int) and isinstance(attrs["flops"], int) and attrs["params"] > 0
        if t.state == optuna.trial.TrialState.COMPLETE:
            assert t.values == [pytest.approx(rows[t.number].val_accuracy), float(attrs["params"])]
    ran = trained(study)
    assert ran, "at least one trial trained"
    for t in ran:
        row = rows[t.number]
        assert t.user_attrs["epochs"] == row.epochs_run == 2 and t.user_attrs["epochs_asked"] == 2
        assert t.user_attrs["fidelity"] == 1.0
        assert t.user_attrs["train_seconds"] == pytest.approx(row.train_seconds, abs=1e-3)


def test_a_capped_trial_reports_the_fidelity_it_reached_and_every_epoch(tmp_path):
    # a 1 ms wall-time cap stops every trial after its first epoch: recorded pruned at 1 of 2
    cfg = config(tmp_path, trials=1, train={"epochs": 2, "batch_size": 64, "max_seconds": 0.001})
    run_search(cfg)
    study = optuna.load_study(study_name=f"nas:{cfg.name}", storage=cfg.db)
    assert study.metric_names == ["val_accuracy"]
    (t,) = study.trials
    assert t.state == optuna.trial.TrialState.PRUNED
    assert (t.user_attrs["epochs"], t.user_attrs["epochs_asked"], t.user_attrs["fidelity"]) == (1, 2, 0.5)
    assert sorted(t.intermediate_values) == [1]  # the epoch it trained, reported


def test_tensorboard_and_mlflow_get_each_trained_trial(tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra (scripts/setup.sh installs it)")
    pytest.importorskip("mlflow", reason="the mlflow extra (scripts/setup.sh installs it)")
    from mlflow import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = tmp_path / "tb"
    ml = f"sqlite:///{tmp_path}/mlflow.db"
    cfg = config(tmp_path, tensorboard=str(tb), mlflow=ml)
    run_search(cfg)
    study = optuna.load_study(study_name=f"nas:{cfg.name}", storage=cfg.db)
    ran = {t.number: t for t in trained(study)}
    assert ran

    # TensorBoard: one run per trained trial, the scalars per epoch, the architecture as text
    runs = sorted(p.name for p in (tb / cfg.name).iterdir())
    assert runs == [f"trial-{n:05d}" for n in sorted(ran)]
    for n, t in ran.items():
        acc = EventAccumulator(str(tb / cfg.name / f"trial-{n:05d}"), size_guidance={"tensors": 0})
        acc.Reload()
        tags = acc.Tags()
        assert {"loss/train", "loss/val", "accuracy/train", "accuracy/val", "lr"} <= set(tags["scalars"])
        assert [s.step for s in acc.Scalars("accuracy/val")] == [1, 2]
        assert [round(s.value, 5) for s in acc.Scalars("accuracy/val")] == [
            round(t.intermediate_values[e], 5) for e in (1, 2)
        ]
        assert {"arch/text_summary", "outcome/text_summary"} <= set(tags["tensors"])
        text = acc.Tensors("arch/text_summary")[0].tensor_proto.string_val[0].decode()
        assert t.user_attrs["arch_hash"] in text and "| node | op |" in text

    # MLflow: one run per trained trial in the search's experiment, params, metrics, arch.json
    client = MlflowClient(tracking_uri=ml)
    exp = client.get_experiment_by_name(cfg.name)
    mruns = {int(r.data.tags["nas.trial"]): r for r in client.search_runs([exp.experiment_id])}
    assert sorted(mruns) == sorted(ran)
    for n, t in ran.items():
        r = mruns[n]
        assert r.info.status == "FINISHED" and r.data.tags["nas.state"] == "complete"
        assert r.data.params["arch_hash"] == t.user_attrs["arch_hash"]
        assert r.data.params["train.epochs"] == "2" and r.data.params["params"] == str(t.user_attrs["params"])
        history = client.get_metric_history(r.info.run_id, "accuracy_val")
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == [1, 2]
        assert r.data.metrics["val_accuracy"] == pytest.approx(t.values[0])
        path = client.download_artifacts(r.info.run_id, "arch.json", str(tmp_path))
        with open(path) as f:
            assert Arch.from_dict(json.load(f)).hash() == t.user_attrs["arch_hash"]
    assert (tmp_path / "mlartifacts").is_dir()  # beside the tracking database, not in the cwd


def test_a_refused_tracking_uri_is_one_line_before_anything_is_written(tmp_path):
    pytest.importorskip("mlflow", reason="the mlflow extra (scripts/setup.sh installs it)")
    cfg = config(tmp_path, mlflow=f"file://{tmp_path}/mlruns")  # MLflow 3 refuses its file store
    with pytest.raises(ConfigError, match=r"^--mlflow 'file://.*sqlite:///mlflow.db"):
        run_search(cfg)
    assert not (tmp_path / "nas.db").exists()
    assert not open_trackers(config(tmp_path)) and isinstance(open_trackers(config(tmp_path)), Trackers)
