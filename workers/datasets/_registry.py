"""The registry of datasets: a name maps to a loader plus its augmentation defaults.

A loader turns a `LoadRequest` into `RawData` (uint8 NCHW train and test arrays); splitting,
subsetting, resizing and statistics are shared and live in `_load.py`.

A spec may also say what is known about a dataset without loading its images: its class
names (`classes`, or `list_classes` reading them from the files, e.g. folder names), and the
input shape and statistics of its whole training split (`input_shape`, `mean`, `std`, exactly
what `load_dataset(name, val_fraction=0)` computes). `known_classes` and `known_stats` ask.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ._errors import DatasetError

DEFAULT = "fashion-mnist"


@dataclass(frozen=True)
class LoadRequest:
    """What a loader gets. `path` is the part after the colon of `imagefolder:PATH`/`npz:PATH`."""

    name: str
    path: str | None = None
    data_dir: str | None = None
    image_size: int | None = None
    seed: int = 0
    download: bool = True
    #: what `load_dataset` will hold out and keep (segmentation loaders that generate their images
    #: use them to make only what is kept; the others ignore them)
    val_fraction: float = 0.1
    subset: int | None = None


@dataclass
class RawData:
    """A loader's result: x uint8 (N, C, H, W) on the CPU, y int64 (N,) in [0, num_classes); for a
    segmentation dataset (`DatasetSpec.task` 'segment') y is uint8 (N, H, W) masks of class ids."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    meta: dict = field(default_factory=dict)


Loader = Callable[[LoadRequest], RawData]


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset. `crop_padding=None` means one eighth of the image side.

    classes: class names by label, when the dataset fixes them; `list_classes(req)` reads them
    from the files instead (no image decoded). input_shape/mean/std: (C, H, W) as loaded and
    the per-channel statistics of the whole training split, when fixed (None: load to know).
    """

    name: str
    load: Loader
    takes_path: bool = False
    augment: bool = True
    flip: bool = True
    crop_padding: int | None = 2
    summary: str = ""
    classes: tuple[str, ...] | None = None
    list_classes: Callable[[LoadRequest], list[str]] | None = None
    input_shape: tuple[int, int, int] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    #: 'classify' (a label per image) or 'segment' (a class-id mask per image: `_seg.py`)
    task: str = "classify"


_REGISTRY: dict[str, DatasetSpec] = {}
# spelling variants, keyed by the name without dashes
_ALIASES = {"fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist", "cifar10": "cifar10"}


def register(
    name: str,
    *,
    takes_path: bool = False,
    augment: bool = True,
    flip: bool = True,
    crop_padding: int | None = 2,
    classes: tuple[str, ...] | list[str] | None = None,
    list_classes: Callable[[LoadRequest], list[str]] | None = None,
    input_shape: tuple[int, int, int] | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    task: str = "classify",
) -> Callable[[Loader], Loader]:
    """Decorator registering `fn(LoadRequest) -> RawData` under `name` (its docstring's first
    line becomes the summary). `takes_path` datasets are named `NAME:PATH`. The optional
    `classes`, `list_classes`, `input_shape`, `mean`, `std` are described on `DatasetSpec`."""
    if (mean is None) != (std is None) or (mean is not None and input_shape is None):
        raise ValueError(f"dataset {name!r}: give mean and std together, with input_shape")
    if mean is not None and not len(mean) == len(std) == input_shape[0]:
        raise ValueError(f"dataset {name!r}: mean/std need one value per channel of {input_shape}")

    def deco(fn: Loader) -> Loader:
        if name in _REGISTRY:
            raise ValueError(f"dataset {name!r} is already registered")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        _REGISTRY[name] = DatasetSpec(
            name,
            fn,
            takes_path,
            augment,
            flip,
            crop_padding,
            summary,
            tuple(classes) if classes is not None else None,
            list_classes,
            tuple(input_shape) if input_shape is not None else None,
            tuple(mean) if mean is not None else None,
            tuple(std) if std is not None else None,
            task,
        )
        return fn

    return deco


def names() -> list[str]:
    """Registered dataset names, sorted (path-taking ones are used as `NAME:PATH`)."""
    return sorted(_REGISTRY)


def get_spec(name: str) -> DatasetSpec:
    """The spec registered under `name` (no `:PATH` part)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; valid: {_valid()}") from None


def parse_name(name: str) -> tuple[DatasetSpec, str | None]:
    """Split `imagefolder:PATH` into its spec and path; resolve aliases like `cifar-10`."""
    if not isinstance(name, str) or not name.strip():
        raise DatasetError(f"dataset name {name!r} is empty; valid: {_valid()}")
    kind, sep, path = name.strip().partition(":")
    key = kind.lower().replace("_", "-")
    key = _ALIASES.get(key.replace("-", ""), key)
    if key not in _REGISTRY:
        raise DatasetError(f"unknown dataset {name!r}; valid: {_valid()}")
    spec = _REGISTRY[key]
    if spec.takes_path and not path:
        raise DatasetError(f"dataset {key!r} needs a path: use {key}:PATH")
    if not spec.takes_path and sep:
        raise DatasetError(f"dataset {key!r} takes no path; pass the folder as --data-dir DIR")
    return spec, (path or None)


def known_classes(name: str, *, data_dir: str | None = None) -> list[str] | None:
    """The class names of dataset `name` (`NAME` or `NAME:PATH`) by label, when known without
    loading its images: registered names, or names read from the files (imagefolder's folder
    names); None when only loading tells (npz).

    Raises:
        DatasetError: unknown name; DatasetNotFound: a `NAME:PATH` whose files are not there.
    """
    spec, path = parse_name(name)
    if spec.classes is not None:
        return list(spec.classes)
    if spec.list_classes is not None:
        return list(spec.list_classes(LoadRequest(spec.name, path, data_dir, download=False)))
    return None


def known_stats(name: str) -> tuple[tuple[int, int, int], tuple[float, ...], tuple[float, ...]] | None:
    """(input shape, mean, std) of the whole training split of dataset `name` at its own size,
    as `load_dataset(name, val_fraction=0)` computes them, when registered; else None.

    Raises:
        DatasetError: unknown name.
    """
    spec, _ = parse_name(name)
    if spec.mean is None:
        return None
    return spec.input_shape, spec.mean, spec.std


def _valid() -> str:
    specs = (_REGISTRY[n] for n in names())
    return ", ".join(f"{s.name}:PATH" if s.takes_path else s.name for s in specs)
