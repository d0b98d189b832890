"""Datasets for the trainer: a registry of loaders, one private module per file format.

`load_dataset(name)` returns a `Dataset` of uint8 CPU tensors with train/val/test splits;
`Dataset.to(device)` normalises it onto a device; `augment_batch` crops and flips a batch there.
Registered: fashion-mnist (default), mnist, cifar10, synthetic, imagefolder:PATH, npz:PATH; and
for segmentation (masks of class ids, `_seg.py`): fmnist-seg, imagefolder-seg:PATH, synthetic-seg.
"""

from ._augment import augment_batch
from ._errors import DatasetError, DatasetNotFound
from ._load import load_dataset
from ._locate import ENV_VAR, cache_root
from ._registry import DEFAULT, DatasetSpec, LoadRequest, RawData, get_spec, names, register
from ._types import Dataset, Split

# importing the loader modules registers them
from . import _cifar, _idx, _imagefolder, _npz, _seg, _synthetic  # noqa: E402,F401  isort: skip

__all__ = [
    "DEFAULT",
    "ENV_VAR",
    "Dataset",
    "DatasetError",
    "DatasetNotFound",
    "DatasetSpec",
    "LoadRequest",
    "RawData",
    "Split",
    "augment_batch",
    "cache_root",
    "get_spec",
    "load_dataset",
    "names",
    "register",
]
