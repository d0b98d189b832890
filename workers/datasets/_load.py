"""`load_dataset`: a registered loader's raw arrays turned into train/val/test splits."""

from __future__ import annotations

import os

import torch

from ._errors import DatasetError
from ._registry import DEFAULT, LoadRequest, RawData, parse_name
from ._split import channel_stats, resize_uint8, stratified_pick
from ._types import Dataset, Split


def load_dataset(
    name: str = DEFAULT,
    *,
    data_dir: str | os.PathLike | None = None,
    image_size: int | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    download: bool = True,
    subset: int | None = None,
) -> Dataset:
    """Load a dataset by name as uint8 CPU tensors, with a validation split held out of train.

    Args:
        name: a name from `names()`, or `imagefolder:PATH` / `npz:PATH`.
        data_dir: folder holding the files (or a parent with `<name>/`); searched first.
        image_size: resize images to image_size x image_size (imagefolder defaults to 32).
        val_fraction: share of the training set held out as `val`, stratified by class,
            in [0, 1); 0 gives the whole training set as `train` and an empty `val`.
        seed: fixes the validation split and the subset (and the synthetic images).
        download: allow a download into `~/.cache/nas/datasets` when the files are not found.
        subset: keep a stratified N-image subset of `train` (and the same share of `val`);
            the test split is never cut.

    Raises:
        DatasetNotFound: the files are nowhere; the message lists where it looked and the fix.
        DatasetError: unknown name, bad argument, or a corrupt file (named in the message).
    """
    spec, path = parse_name(name)
    _check_args(image_size, val_fraction, seed, subset)
    folder = str(data_dir) if data_dir else None
    if spec.task == "segment":  # masks, not labels: their own splits (`_seg.py`)
        from ._seg import load_segmentation

        return load_segmentation(spec, path, folder, image_size, val_fraction, seed, download, subset)
    raw = spec.load(LoadRequest(spec.name, path, folder, image_size, seed, download))
    _check_raw(raw, name)
    if image_size is not None:
        raw.x_train = resize_uint8(raw.x_train, image_size)
        raw.x_test = resize_uint8(raw.x_test, image_size)

    g = torch.Generator().manual_seed(seed)
    n_full = len(raw.y_train)
    n_val = round(n_full * val_fraction)
    if val_fraction > 0 and n_val == 0 and n_full > 1:
        n_val = 1
    val_idx, train_idx = stratified_pick(raw.y_train, n_val, g)
    if subset is not None and subset < len(train_idx):
        keep_val = round(len(val_idx) * subset / len(train_idx))
        keep, _ = stratified_pick(raw.y_train[train_idx], subset, g)
        train_idx = train_idx[keep]
        keep, _ = stratified_pick(raw.y_train[val_idx], keep_val, g)
        val_idx = val_idx[keep]
    train = Split(raw.x_train[train_idx], raw.y_train[train_idx])
    val = Split(raw.x_train[val_idx], raw.y_train[val_idx])
    mean, std = channel_stats(train.x)
    side = train.x.shape[-1]
    padding = spec.crop_padding if spec.crop_padding is not None else max(1, side // 8)
    meta = {
        **raw.meta,
        "seed": seed,
        "val_fraction": val_fraction,
        "subset": subset,
        "train_full": n_full,
    }
    return Dataset(
        name=f"{spec.name}:{path}" if path else spec.name,
        train=train,
        val=val,
        test=Split(raw.x_test, raw.y_test),
        num_classes=raw.num_classes,
        mean=mean,
        std=std,
        augment=spec.augment,
        flip=spec.augment and spec.flip,
        crop_padding=padding if spec.augment else 0,
        meta=meta,
    )


def _check_args(image_size: object, val_fraction: object, seed: object, subset: object) -> None:
    def is_int(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if image_size is not None and (not is_int(image_size) or not 4 <= image_size <= 1024):
        raise DatasetError(f"image_size={image_size!r} is invalid; use an integer in 4..1024")
    if not isinstance(val_fraction, (int, float)) or not 0 <= val_fraction < 1:
        raise DatasetError(f"val_fraction={val_fraction!r} is invalid; use a number in [0, 1)")
    if not is_int(seed):
        raise DatasetError(f"seed={seed!r} is invalid; use an integer")
    if subset is not None and (not is_int(subset) or subset < 1):
        raise DatasetError(f"subset={subset!r} is invalid; use a positive integer or None")


def _check_raw(raw: RawData, name: str) -> None:
    """A loader's output must be uint8 NCHW with labels in range; catch loader bugs early."""
    if raw.num_classes < 2:
        raise DatasetError(f"dataset {name!r} has {raw.num_classes} class(es); it needs at least 2")
    if len(raw.y_train) == 0:
        raise DatasetError(f"dataset {name!r} has no training images; check its files")
    for x, y, part in ((raw.x_train, raw.y_train, "train"), (raw.x_test, raw.y_test, "test")):
        if x.dtype != torch.uint8 or x.dim() != 4 or len(x) != len(y):
            raise DatasetError(
                f"dataset {name!r}: loader gave {part} x {x.dtype}{list(x.shape)} for "
                f"{len(y)} labels, expected uint8 (N, C, H, W)"
            )
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= raw.num_classes):
            raise DatasetError(f"dataset {name!r}: {part} label outside 0..{raw.num_classes - 1}; check its files")
