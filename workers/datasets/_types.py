"""The in-memory form of a dataset, shared by every loader and by the trainer."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch


@dataclass
class Split:
    """Images and labels of one split.

    x: (N, C, H, W) uint8 on the CPU as loaded; after `Dataset.to(device)` float32 (or
    bfloat16) normalised with the train-split statistics, on that device.
    y: (N,) int64 labels; for segmentation, (N, H, W) uint8 masks of class ids (`Dataset.task`).
    """

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __repr__(self) -> str:
        dtype = str(self.x.dtype).removeprefix("torch.")
        return f"Split(n={len(self)}, x={dtype}{list(self.x.shape)} on {self.x.device})"


@dataclass
class Dataset:
    """train/val/test splits of one dataset plus what a model needs to know about it.

    `train` is what the search trains on (the training set minus the validation hold-out);
    `val` is what the search selects on; `test` is only for final evaluation. With
    `val_fraction=0` (the final protocol) `train` is the whole training set and `val` is empty.
    """

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    mean: tuple[float, ...]  # per channel, of the train split, in [0, 1] units
    std: tuple[float, ...]
    augment: bool = True  # random crop with padding + flip by default
    flip: bool = True  # horizontal flip (off for e.g. digits)
    crop_padding: int = 2
    normalized: bool = False  # True once `to()` has run
    meta: dict = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        """Class names by label: the loader's (`meta["classes"]`), else "0".."K-1"."""
        names = self.meta.get("classes")
        if names is not None and len(names) == self.num_classes:
            return [str(n) for n in names]
        return [str(i) for i in range(self.num_classes)]

    @property
    def task(self) -> str:
        """'segment' when the labels are per-pixel masks (N, H, W), else 'classify'."""
        return "segment" if self.train.y.dim() == 3 else "classify"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.train.x.shape[1:])  # type: ignore[return-value]

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> Dataset:
        """A copy with every split on `device`: x normalised with the train mean/std, as `dtype`.

        The uint8 images travel to the device first (4x less to copy) and are converted there.
        Channels stay NCHW. On an already normalised dataset this only moves and casts.
        """
        device = torch.device(device)
        mean = torch.tensor(self.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)

        def convert(split: Split) -> Split:
            x = split.x.to(device)
            if not self.normalized:
                x = x.to(torch.float32).div_(255.0).sub_(mean).div_(std)
            return Split(x.to(dtype), split.y.to(device))

        return replace(
            self,
            train=convert(self.train),
            val=convert(self.val),
            test=convert(self.test),
            normalized=True,
            meta=dict(self.meta),
        )

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={len(self.train)}, val={len(self.val)}, "
            f"test={len(self.test)}, shape={self.input_shape}, classes={self.num_classes}, "
            f"normalized={self.normalized})"
        )
