"""What a search worker keeps of the dataset: train and val as uint8 on its device.

The airbench way: images stay uint8 where they train (a quarter of the float32 bytes), and each
batch is converted and normalised as it is drawn (`Normalize`), with the train split's mean and
std and the very arithmetic of `Dataset.to`, so a model sees the same numbers, bit for bit on the
CPU. The test split never reaches a search worker (`without_test`): the search selects on the
validation split only, and the final protocol (`nas.final`) loads its own copy.
"""

from __future__ import annotations

import dataclasses

import torch

from workers.datasets._types import Dataset, Split


def without_test(data: Dataset) -> Dataset:
    """`data` with an empty test split (same dtype and image shape): what a search ships to workers."""
    if len(data.test) == 0:
        return data
    empty = Split(data.test.x[:0].clone(), data.test.y[:0].clone())
    return dataclasses.replace(data, test=empty, meta=dict(data.meta))


def resident(data: Dataset, device: torch.device | str) -> Dataset:
    """What a search worker holds: train and val on `device` as they are (uint8 as loaded; a
    dataset already normalised stays so), labels as int64 (segmentation masks stay uint8), the
    test split left out."""
    device = torch.device(device)

    def move(s: Split) -> Split:
        x = s.x if s.x.device == device else s.x.to(device)
        dtype = torch.long if s.y.dim() == 1 else s.y.dtype  # masks stay uint8: an eighth of the bytes
        y = s.y if s.y.device == device and s.y.dtype == dtype else s.y.to(device, dtype)
        return Split(x, y)

    lean = without_test(data)
    return dataclasses.replace(lean, train=move(lean.train), val=move(lean.val), meta=dict(lean.meta))


class Normalize:
    """Batch -> normalised float batch on the batch's device: ``(x / 255 - mean) / std`` as `dtype`.

    The same operations, in the same order and precision, as `Dataset.to`; a batch that is
    already floating point (a normalised dataset) passes through.
    """

    def __init__(
        self, mean: tuple[float, ...], std: tuple[float, ...], device: torch.device | str, dtype: torch.dtype
    ) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.dtype = dtype

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_floating_point():
            return x
        return x.to(torch.float32).div_(255.0).sub_(self.mean).div_(self.std).to(self.dtype)


def data_nbytes(data: Dataset) -> int:
    """Bytes of every split's image and label tensors (what holding `data` costs)."""
    return sum(t.nbytes for s in (data.train, data.val, data.test) for t in (s.x, s.y))
