"""`--tensorboard`: the architecture as text, as Graphviz DOT and as an image, read back with
TensorBoard's own EventAccumulator.

`nas.search` may not import `nas.viz` (scripts/import_graph.py), so the drawing is injected:
`open_trackers(config, draw=nas.viz.draw.tracker_drawing)`, which `nas search` does. The image
is drawn with matplotlib (no Graphviz binary needed), so it is there whenever the DOT text is.
"""

from __future__ import annotations

import optuna
import pytest

from nas.cli import main
from nas.search.config import SearchConfig
from nas.search.tracking import open_trackers
from tests.helpers import tiny_search_options
from workers.records import EpochMetrics

pytest.importorskip("tensorboard", reason="the tensorboard extra (scripts/setup.sh installs it)")

TINY = ["--space-option", "widths=[[8],[16]]", "--space-option", "depth=[1,2]", "--space-option", "max_skips=1"]


def _arch_json() -> tuple[str, str]:
    import search_spaces

    space = search_spaces.get("skipdag", widths=[[8], [16]], depth=[1, 2])
    arch = space.sample(optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)).ask()).canonical()
    return arch.to_json(), arch.hash()


def _epoch() -> EpochMetrics:
    return EpochMetrics(
        epoch=1, train_loss=1.0, train_accuracy=0.5, val_loss=1.1, val_accuracy=0.4, seconds=0.1, lr=0.01
    )


def _read(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"tensors": 0, "images": 0})
    acc.Reload()
    return acc


def _text(acc, tag: str) -> str:
    return acc.Tensors(tag)[0].tensor_proto.string_val[0].decode()


def test_the_tracker_writes_the_architecture_as_text_dot_and_an_image(tmp_path):
    from nas.viz.draw import tracker_drawing

    arch_json, arch_hash = _arch_json()
    config = SearchConfig(name="tb", tensorboard=str(tmp_path / "tb"))
    tracker = open_trackers(config, draw=tracker_drawing)
    tracker.trial_started(3, arch_hash=arch_hash, arch_json=arch_json, params=1234, flops=5678)
    tracker.epoch(3, _epoch())
    tracker.trial_finished(3, "complete", {"val_accuracy": 0.4})
    tracker.close()

    run = tmp_path / "tb" / "tb" / "trial-00003"
    acc = _read(run)
    tags = acc.Tags()
    assert {"arch/text_summary", "arch_dot/text_summary"} <= set(tags["tensors"])
    assert arch_hash in _text(acc, "arch/text_summary")
    dot = _text(acc, "arch_dot/text_summary")
    assert dot.startswith("```dot\ndigraph") and dot.rstrip().endswith("```")
    assert (run / "arch.dot").read_text().startswith("digraph") and "trial 3" in (run / "arch.dot").read_text()
    assert tags["images"] == ["arch"]
    (image,) = acc.Images("arch")
    assert image.width > 100 and image.height > 50 and image.encoded_image_string.startswith(b"\x89PNG")
    assert "accuracy/val" in tags["scalars"]


def test_without_a_drawer_the_text_alone_and_a_failing_drawer_is_dropped_with_one_warning(tmp_path, capsys):
    arch_json, arch_hash = _arch_json()
    tracker = open_trackers(SearchConfig(name="a", tensorboard=str(tmp_path / "tb")))
    tracker.trial_started(0, arch_hash=arch_hash, arch_json=arch_json, params=1, flops=1)
    tracker.close()
    acc = _read(tmp_path / "tb" / "a" / "trial-00000")
    assert acc.Tags()["images"] == [] and "arch_dot/text_summary" not in acc.Tags()["tensors"]

    def broken(arch_json, title):
        raise RuntimeError("no canvas\nmore")

    tracker = open_trackers(SearchConfig(name="b", tensorboard=str(tmp_path / "tb")), draw=broken)
    for n in (0, 1):
        tracker.trial_started(n, arch_hash=arch_hash, arch_json=arch_json, params=1, flops=1)
        tracker.epoch(n, _epoch())
    tracker.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["nas: warning: TensorBoard architecture drawings stopped: no canvas"]
    for n in (0, 1):  # the run goes on: text and scalars
        tags = _read(tmp_path / "tb" / "b" / f"trial-{n:05d}").Tags()
        assert "arch/text_summary" in tags["tensors"] and "accuracy/val" in tags["scalars"]


def test_nas_search_tensorboard_draws_each_trained_architecture(tmp_path, capsys):
    tb = tmp_path / "tb"
    argv = [
        "search",
        "--name",
        "d",
        "--db",
        f"sqlite:///{tmp_path}/nas.db",
        *tiny_search_options(1),
        "--tensorboard",
        str(tb),
        *TINY,
    ]
    assert main(argv) == 0, capsys.readouterr().err[-2000:]
    (run,) = (tb / "d").iterdir()
    acc = _read(run)
    assert {"arch/text_summary", "arch_dot/text_summary"} <= set(acc.Tags()["tensors"])
    assert acc.Tags()["images"] == ["arch"] and (run / "arch.dot").exists()
