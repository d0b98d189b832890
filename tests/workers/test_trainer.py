"""The trainer on the CPU: tiny conv nets on synthetic, separable 1x8x8 images.

Class 0 has a bright top half, class 1 a bright bottom half, both under Gaussian noise, so a
small conv net separates them within a few epochs. No assertion depends on wall-clock time.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from workers._schedule import lr_at
from workers.datasets._types import Dataset, Split
from workers.trainer import (
    EpochMetrics,
    TrainConfig,
    TrainResult,
    evaluate,
    resolve_device,
    train,
)

N_TRAIN, N_VAL, BATCH = 800, 200, 50  # 16 steps per epoch


def make_split(n: int, g: torch.Generator, size: int = 8) -> Split:
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 1, size, size, generator=g) * 0.8
    half = size // 2
    x[y == 0, :, :half] += 1.0
    x[y == 1, :, half:] += 1.0
    return Split(x, y)


def make_data(n_train: int = N_TRAIN, n_val: int = N_VAL, seed: int = 0, **kw) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    fields = dict(
        name="toy",
        train=make_split(n_train, g),
        val=make_split(n_val, g),
        test=make_split(n_val, g),
        num_classes=2,
        mean=(0.0,),
        std=(1.0,),
        augment=False,
        flip=False,
        crop_padding=1,
        normalized=True,
    )
    fields.update(kw)
    return Dataset(**fields)


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 4 * 4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return self.fc(x.flatten(1))


class NanAfter(nn.Module):
    """TinyNet whose training forward returns NaN from call `n + 1` on."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.net, self.n, self.calls = TinyNet(), n, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.training:
            self.calls += 1
            if self.calls > self.n:
                out = out * float("nan")
        return out


class Recorder(nn.Module):
    """TinyNet that records the ids (pixel [0, 0, 0]) of the training images it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.net, self.seen = TinyNet(), []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.seen.append(x[:, 0, 0, 0].long().tolist())
        return self.net(x)


def cfg(**kw) -> TrainConfig:
    base = dict(epochs=3, batch_size=BATCH, lr=0.05, device="cpu", seed=0)
    base.update(kw)
    return TrainConfig(**base)


def fresh_model(seed: int = 1) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet()


# --- learning and the result ----------------------------------------------------------------


def test_trainer_learns_separable_data() -> None:
    result = train(fresh_model(), make_data(), cfg(epochs=4))
    assert result.status == "complete" and result.reason is None
    assert result.epochs_run == 4 and [m.epoch for m in result.history] == [1, 2, 3, 4]
    assert result.val_accuracy > 0.9
    assert result.val_accuracy == result.history[-1].val_accuracy
    assert result.val_loss == result.history[-1].val_loss
    assert result.best_val_accuracy == max(m.val_accuracy for m in result.history)
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert result.device == "cpu" and result.cuda_graphs is False
    assert result.train_images == N_TRAIN and result.steps == 4 * N_TRAIN // BATCH
    assert result.train_seconds > 0 and result.images_per_second > 0


def test_result_round_trips_through_json() -> None:
    result = train(fresh_model(), make_data(), cfg(epochs=2))
    d = json.loads(json.dumps(result.to_dict()))
    assert d["history"][0]["epoch"] == 1
    again = TrainResult.from_dict(d)
    assert again.history == result.history and again.status == result.status
    assert EpochMetrics.from_dict(result.history[0].to_dict()) == result.history[0]


def test_no_validation_split_gives_none() -> None:
    empty = Split(torch.empty(0, 1, 8, 8), torch.empty(0, dtype=torch.long))
    result = train(fresh_model(), make_data(val=empty), cfg(epochs=2))
    assert result.status == "complete"
    assert result.val_accuracy is None and result.val_loss is None
    assert result.best_val_accuracy is None
    assert all(m.val_accuracy is None and m.val_loss is None for m in result.history)


# --- stopping: callback, non-finite loss, time limit ----------------------------------------


def test_report_callback_stops_run_early() -> None:
    seen: list[EpochMetrics] = []

    def report(m: EpochMetrics) -> bool:
        seen.append(m)
        return m.epoch == 2

    result = train(fresh_model(), make_data(), cfg(epochs=5), report)
    assert result.status == "stopped" and "epoch 2" in result.reason
    assert result.epochs_run == 2 < 5
    assert [m.epoch for m in seen] == [1, 2] and seen == result.history


def test_report_returning_none_does_not_stop() -> None:
    result = train(fresh_model(), make_data(), cfg(epochs=2), lambda m: None)
    assert result.status == "complete" and result.epochs_run == 2


def test_nan_loss_fails_with_epoch_and_step() -> None:
    steps = N_TRAIN // BATCH
    model = NanAfter(steps + 2)  # the 3rd step of epoch 2 is the first NaN
    result = train(model, make_data(), cfg(epochs=4))
    assert result.status == "failed"
    assert result.reason == "non-finite loss (nan) at epoch 2 step 3"
    assert result.epochs_run == 1 and len(result.history) == 1
    assert model.calls == 2 * steps  # stopped at the end of epoch 2, not later


def test_huge_learning_rate_fails() -> None:
    result = train(fresh_model(), make_data(), cfg(epochs=3, lr=1e30, warmup_fraction=0.0))
    assert result.status == "failed"
    assert re.fullmatch(r"non-finite loss \((nan|inf)\) at epoch \d+ step \d+", result.reason)
    assert result.epochs_run < 3


def test_max_seconds_zero_stops_after_first_epoch() -> None:
    result = train(fresh_model(), make_data(), cfg(epochs=3, max_seconds=0))
    assert result.status == "timeout" and "time limit" in result.reason
    assert result.epochs_run == 1
    assert result.val_accuracy == result.history[0].val_accuracy


# --- determinism ----------------------------------------------------------------------------


def test_same_seed_same_metrics() -> None:
    model_a, model_b = fresh_model(), fresh_model()
    a = train(model_a, make_data(), cfg(epochs=3))
    b = train(model_b, make_data(), cfg(epochs=3))
    assert a.history == b.history  # every field except wall-clock seconds
    assert [m.to_dict() | {"seconds": 0} for m in a.history] == [m.to_dict() | {"seconds": 0} for m in b.history]
    for (name, pa), pb in zip(model_a.state_dict().items(), model_b.state_dict().values(), strict=False):
        assert torch.equal(pa, pb), name
    c = train(fresh_model(), make_data(), cfg(epochs=3, seed=7))
    assert [m.train_loss for m in c.history] != [m.train_loss for m in a.history]


def test_same_seed_same_metrics_with_augmentation() -> None:
    try:
        from workers.datasets import augment_batch  # noqa: F401
    except ImportError:
        pytest.skip("workers.datasets.augment_batch is not there yet")
    data = make_data(augment=True, flip=True)
    a = train(fresh_model(), data, cfg(epochs=2))
    b = train(fresh_model(), data, cfg(epochs=2))
    assert a.status == "complete" and a.history == b.history
    off = train(fresh_model(), data, cfg(epochs=2, augment=False))
    assert off.history != a.history


# --- which images are trained on ------------------------------------------------------------


def with_ids(data: Dataset) -> Dataset:
    x = data.train.x.clone()
    x[:, 0, 0, 0] = torch.arange(len(data.train), dtype=x.dtype)
    return dataclasses.replace(data, train=Split(x, data.train.y))


def test_train_fraction_uses_a_fixed_subset() -> None:
    full, part = Recorder(), Recorder()
    r_full = train(full, with_ids(make_data()), cfg(epochs=2))
    r_part = train(part, with_ids(make_data()), cfg(epochs=2, train_fraction=0.25))
    assert r_full.train_images == N_TRAIN and r_part.train_images == N_TRAIN // 4
    assert r_part.steps == 2 * (N_TRAIN // 4) // BATCH
    assert sum(map(len, full.seen)) == 2 * N_TRAIN
    assert sum(map(len, part.seen)) == 2 * (N_TRAIN // 4)
    per_epoch = len(part.seen) // 2
    first = {i for batch in part.seen[:per_epoch] for i in batch}
    second = {i for batch in part.seen[per_epoch:] for i in batch}
    assert len(first) == N_TRAIN // 4 and first == second  # same subset, no repeats
    assert part.seen[:per_epoch] != part.seen[per_epoch:]  # reshuffled each epoch


def test_last_partial_batch_is_dropped_and_every_batch_is_full() -> None:
    model = Recorder()
    result = train(model, with_ids(make_data(n_train=N_TRAIN + 30)), cfg(epochs=1))
    assert result.train_images == N_TRAIN
    assert {len(batch) for batch in model.seen} == {BATCH}
    assert len({i for batch in model.seen for i in batch}) == N_TRAIN


def test_batch_larger_than_train_set_still_trains() -> None:
    result = train(fresh_model(), make_data(n_train=30), cfg(epochs=2, batch_size=256))
    assert result.status == "complete" and result.train_images == 30 and result.steps == 2


def test_unnormalised_data_is_normalised_per_batch_not_with_to() -> None:
    """Raw images stay raw on the device (workers._resident); tests/workers/test_resident.py
    checks that the numbers are those of `Dataset.to`."""
    calls = []

    @dataclasses.dataclass
    class RawDataset(Dataset):
        def to(self, device, dtype):
            calls.append((torch.device(device), dtype))
            return dataclasses.replace(self, normalized=True)

    raw = RawDataset(**{f.name: getattr(make_data(), f.name) for f in dataclasses.fields(Dataset)})
    raw = dataclasses.replace(raw, normalized=False)
    result = train(fresh_model(), raw, cfg(epochs=1))
    assert calls == [] and result.status == "complete"


# --- evaluate, schedule, device, progress ---------------------------------------------------


def test_evaluate_covers_every_image() -> None:
    model = fresh_model().train()
    split = make_split(1003, torch.Generator().manual_seed(3))
    loss, acc = evaluate(model, split, batch_size=100)
    assert model.training  # mode restored
    model.eval()
    with torch.no_grad():
        logits = model(split.x)
    assert loss == pytest.approx(F.cross_entropy(logits, split.y).item(), rel=1e-5)
    assert acc == (logits.argmax(1) == split.y).sum().item() / 1003


def test_evaluate_rejects_raw_images() -> None:
    raw = Split(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="normalised"):
        evaluate(fresh_model(), raw)


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_schedule_warms_up_then_decays(schedule: str) -> None:
    total = 100
    lrs = [lr_at(i, total, peak=0.2, schedule=schedule, warmup_fraction=0.2) for i in range(total)]
    assert all(0 < lr <= 0.2 for lr in lrs)
    assert lrs[:20] == sorted(lrs[:20]) and lrs[19] == pytest.approx(0.2)
    assert lrs[20:] == sorted(lrs[20:], reverse=True) and lrs[-1] < 0.01
    assert lrs[0] < 0.02


def test_epoch_lr_follows_schedule() -> None:
    result = train(fresh_model(), make_data(), cfg(epochs=3, lr=0.1, warmup_fraction=0.0))
    lrs = [m.lr for m in result.history]
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 0.01


def test_resolve_device() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="nonsense"):
        resolve_device("nonsense")


def test_progress_prints_one_line_per_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    train(fresh_model(), make_data(), cfg(epochs=2), progress=True)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "val_acc" in err


# --- TrainConfig ----------------------------------------------------------------------------


def test_config_defaults_round_trip() -> None:
    config = TrainConfig()
    assert config.epochs == 3 and config.schedule == "onecycle" and config.max_seconds is None
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert TrainConfig.from_dict({}) == config
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 1.0  # type: ignore[misc]


def test_config_rejects_unknown_key() -> None:
    with pytest.raises(ValueError, match="unknown TrainConfig key 'lrate'"):
        TrainConfig.from_dict({"lrate": 0.1})


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("epochs", "3", ["epochs", "int", "str"]),
        ("epochs", True, ["epochs", "int", "bool"]),
        ("lr", "0.1", ["lr", "float", "str"]),
        ("nesterov", 1, ["nesterov", "bool", "int"]),
        ("max_seconds", "60", ["max_seconds", "float or None", "str"]),
    ],
)
def test_config_rejects_wrong_type(key: str, value: object, words: list[str]) -> None:
    with pytest.raises(TypeError) as err:
        TrainConfig.from_dict({key: value})
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    "key, value",
    [
        ("epochs", 0),
        ("schedule", "linear"),
        ("train_fraction", 0.0),
        ("momentum", 1.0),
        ("max_seconds", -1),
        ("device", "gpu"),
        ("lr", math.nan),
    ],
)
def test_config_rejects_bad_value(key: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"TrainConfig.{key}="):
        TrainConfig.from_dict({key: value})


def test_config_widens_int_to_float() -> None:
    config = TrainConfig.from_dict({"lr": 1, "max_seconds": 30})
    assert isinstance(config.lr, float) and config.lr == 1.0
    assert isinstance(config.max_seconds, float)


def test_raw_uint8_dataset_is_normalised_by_dataset_to() -> None:
    data = make_data()
    if not hasattr(Dataset, "to"):
        pytest.skip("Dataset.to is not there yet")

    def raw(s: Split) -> Split:  # back to uint8 pixels in [0, 255]
        return Split((s.x * 40 + 100).clamp(0, 255).to(torch.uint8), s.y)

    raw_data = dataclasses.replace(
        data,
        train=raw(data.train),
        val=raw(data.val),
        test=raw(data.test),
        mean=(100 / 255,),
        std=(40 / 255,),
        normalized=False,
    )
    result = train(fresh_model(), raw_data, cfg(epochs=3))
    assert result.status == "complete" and result.val_accuracy > 0.9
    assert raw_data.train.x.dtype == torch.uint8  # the caller's dataset is left as it was


# --- CUDA (skipped on machines without a GPU) -----------------------------------------------

cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


class HostSync(TinyNet):
    """A net whose forward syncs with the host: it cannot be captured as a CUDA graph."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.abs().sum().item() < 0:  # never true; the .item() is the point
            x = -x
        return super().forward(x)


@cuda_only
@pytest.mark.parametrize("graphs", [True, False])
@pytest.mark.parametrize("bf16", [True, False])
def test_cuda_learns_with_and_without_graphs(graphs: bool, bf16: bool) -> None:
    model = fresh_model()
    result = train(model, make_data(), cfg(epochs=4, device="cuda", cuda_graphs=graphs, bf16=bf16))
    assert result.status == "complete" and result.val_accuracy > 0.9
    assert result.cuda_graphs is graphs and result.device.startswith("cuda")
    assert "forward" not in model.__dict__  # the graphed forward is removed afterwards
    x = make_data().test.x[:7].cuda()  # any batch size works again
    assert model.eval()(x).shape == (7, 2)


@cuda_only
def test_cuda_graph_capture_failure_falls_back_to_eager() -> None:
    torch.manual_seed(1)
    result = train(HostSync(), make_data(), cfg(epochs=3, device="cuda"))
    assert result.status == "complete" and result.cuda_graphs is False
    assert result.val_accuracy > 0.9
