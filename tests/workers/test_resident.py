"""What a search worker holds: train and val as uint8 on its device, normalised per batch.

The numbers a model sees must be those of `Dataset.to` (same constants, same arithmetic), the
memory the uint8 size, and the test split must never reach a worker.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from workers._resident import Normalize, data_nbytes, resident, without_test
from workers.datasets import DatasetNotFound, load_dataset
from workers.executor import LocalExecutor
from workers.trainer import TrainConfig, train


class Net(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 7 * 7, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 4)
        return self.fc(x.flatten(1))


def synthetic(subset: int | None = 400, **kw):
    data = load_dataset("synthetic", subset=subset, seed=1)
    return dataclasses.replace(data, **kw) if kw else data


def uint8_bytes(data) -> int:
    """What train and val cost as loaded: uint8 images plus int64 labels."""
    return sum(s.x.numel() + 8 * len(s) for s in (data.train, data.val))


def test_normalize_is_dataset_to_bit_for_bit():
    data = synthetic()
    want = data.to("cpu").train.x
    got = Normalize(data.mean, data.std, "cpu", torch.float32)(data.train.x)
    assert got.dtype == torch.float32 and torch.equal(got, want)
    assert Normalize(data.mean, data.std, "cpu", torch.float32)(want) is want  # floats pass through


def test_raw_data_trains_exactly_as_normalised_data():
    """Same seed, same network: per-batch normalisation (augmentation on, applied after it, so
    crops pad with the mean as before) gives the very same metrics as a pre-normalised dataset."""
    data = synthetic(augment=True, flip=True, crop_padding=2)
    config = TrainConfig(epochs=2, batch_size=50, lr=0.05, seed=3, device="cpu")
    results = []
    for d in (data, data.to("cpu")):
        torch.manual_seed(0)
        results.append(train(Net(), d, config))
    raw, normalised = results
    assert [m.to_dict() | {"seconds": 0} for m in raw.history] == [
        m.to_dict() | {"seconds": 0} for m in normalised.history
    ]


def test_a_local_worker_holds_train_and_val_as_uint8_and_no_test_split():
    data = synthetic(subset=None)
    held = LocalExecutor(data, device="cpu").data
    assert held.train.x.dtype == torch.uint8 and held.val.x.dtype == torch.uint8
    assert len(held.test) == 0 and len(data.test) == 1000
    assert data_nbytes(held) == uint8_bytes(data)
    # against what a worker held before: every split as float32
    assert data_nbytes(held) * 3 < data_nbytes(data.to("cpu"))


def test_subset_cuts_what_a_worker_holds():
    whole, cut = (data_nbytes(resident(synthetic(subset=n), "cpu")) for n in (None, 300))
    assert cut == uint8_bytes(synthetic(subset=300)) and cut * 8 < whole


def test_without_test_keeps_the_shape_and_drops_the_images():
    data = synthetic()
    lean = without_test(data)
    assert len(lean.test) == 0 and lean.test.x.shape[1:] == data.test.x.shape[1:]
    assert lean.test.x.dtype == torch.uint8 and len(data.test) == 1000  # the original is untouched
    assert without_test(lean) is lean


def test_a_tiny_real_run_on_uint8_data_learns():
    """Fashion-MNIST, 1,000 images, one epoch, from what a worker holds: well above chance (0.1)."""
    try:
        data = load_dataset("fashion-mnist", subset=1000, download=False)
    except DatasetNotFound:
        pytest.skip("Fashion-MNIST is not installed here")
    held = LocalExecutor(data, device="cpu").data
    assert held.train.x.dtype == torch.uint8
    torch.manual_seed(0)
    result = train(Net(), held, TrainConfig(epochs=2, batch_size=32, lr=0.05, seed=0, device="cpu"))
    assert result.status == "complete" and result.val_accuracy > 0.45, result.val_accuracy
