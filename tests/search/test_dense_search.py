"""A dense (segmentation) search end to end on the CPU: `nas search --space skipunet`, then the
leaderboard, show --samples, evaluate, export and plot name the score mIoU, and the exported model
maps (N, C, H, W) to (N, K, H, W)."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from nas.cli import main
from nas.search.config import ConfigError, SearchConfig

SPACE = ["--space-option", "levels=[2,2]", "--space-option", "widths=[[8,16],[16]]"]


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_a_dense_space_defaults_to_its_dataset_and_mIoU():
    c = SearchConfig(space="skipunet")
    assert (c.name, c.dataset, c.objectives) == ("skipunet-fmnist-seg", "fmnist-seg", ("val_miou",))
    assert SearchConfig(space="skipunet", objectives=("val_miou", "params")).objectives == ("val_miou", "params")
    assert SearchConfig(space="skipdag").objectives == ("val_accuracy",)
    with pytest.raises(ConfigError, match="--dataset fmnist-seg has masks .* --space skipdag classifies"):
        SearchConfig(space="skipdag", dataset="fmnist-seg")
    with pytest.raises(ConfigError, match="--space skipunet predicts a class per pixel, but --dataset mnist"):
        SearchConfig(space="skipunet", dataset="mnist")
    with pytest.raises(ConfigError, match="start with val_accuracy"):
        SearchConfig(objectives=("val_miou",))
    # Dice is a per-pixel loss: offered for segmentation, refused before anything runs elsewhere
    assert SearchConfig(space="skipunet", train={"loss": "dice"}).train.loss == "dice"
    with pytest.raises(ConfigError, match="--loss ce\\+dice: Dice is a per-pixel loss.*use --loss ce"):
        SearchConfig(space="skipdag", train={"loss": "ce+dice"})


def test_the_loss_flag_reaches_the_trials_training(tmp_path, capsys):
    argv = ["search", "--space", "skipunet", "--db", f"sqlite:///{tmp_path / 'l.db'}", "--trials", "1"]
    rc, out, err = cli(capsys, *argv, "--loss", "ce+dice", "--dump-config")
    assert rc == 0, err
    assert 'loss = "ce+dice"' in out
    with pytest.raises(SystemExit) as e:
        main([*argv, "--loss", "focal"])
    assert e.value.code == 2 and "invalid choice: 'focal'" in capsys.readouterr().err


def test_dense_search_leaderboard_show_evaluate_export(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'seg.db'}"
    rc, out, err = cli(
        capsys,
        *("search", "--space", "skipunet", "--dataset", "synthetic-seg", "--db", url, "--trials", "2"),
        *("--epochs", "1", "--batch-size", "32", "--executor", "local", "--no-progress"),
        *("--objectives", "val_miou,params", "--loss", "ce+dice", *SPACE),
    )
    assert rc == 0, err
    assert "val_miou" in out and "(validation mIoU)" in out
    rc, out, err = cli(capsys, "leaderboard", "--db", url)
    assert rc == 0 and "by val_miou" in out and " val_miou " in out and "test_miou" in out, out
    rows = json.loads(cli(capsys, "leaderboard", "--db", url, "--format", "json")[1])
    best = rows[0]
    assert 0 <= best["val_accuracy"] <= 1  # the field holds the search's score, here its mIoU

    rc, out, err = cli(capsys, "show", str(best["trial"]), "--db", url, "--samples", "3", "--out", "preds.png")
    assert rc == 0, err
    assert "mIoU" in out and (tmp_path / "preds.png").stat().st_size > 1000

    rc, out, err = cli(capsys, "export", "--db", url, "--best", "--out", "exported")
    assert rc == 0, err
    assert "val mIoU" in out
    spec = importlib.util.spec_from_file_location("exported_seg", tmp_path / "exported" / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert "logits per pixel" in module.__doc__ and "mIoU" in module.__doc__
    net = module.Net().eval()
    with torch.no_grad():
        assert net(torch.zeros(2, 1, 32, 32)).shape == (2, 3, 32, 32)
        assert net(torch.zeros(1, 1, 20, 28)).shape == (1, 3, 20, 28)  # any size: (N, C, H, W) -> (N, K, H, W)

    rc, out, err = cli(capsys, "evaluate", "--db", url, "--top", "1", "--seeds", "1", "--epochs", "1", "--no-progress")
    assert rc == 0, err
    assert "test_miou" in out and "by validation mIoU" in out and "test mIoU" in err

    rc, out, err = cli(capsys, "plot", "--db", url, "--kind", "pareto", "--out", "plots")
    assert rc == 0, err
