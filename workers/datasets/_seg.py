"""Segmentation datasets: images with a class id per pixel (masks), for dense prediction.

Registered (with `task="segment"`):

- ``fmnist-seg``: canvases (64x64 by default, ``--image-size`` sets the side) holding 1-4
  Fashion-MNIST items each, placed at random, deterministically from the seed. A pixel's label
  is its item's class + 1 where the item's pixel is above `THRESHOLD`, else 0 (background); a
  later item covers an earlier one. Train and val canvases are made from the training split,
  from disjoint items (the val items are a `val_fraction` of them, drawn with the seed); test
  canvases from the test split only, with a fixed seed, so the test split never moves with the
  search seed. ``--subset N`` makes N training canvases (and the val canvases in proportion).
- ``imagefolder-seg:PATH``: ``images/`` and ``masks/`` PNG pairs with the same names, a mask's
  pixel values being class ids; under ``PATH/train`` and ``PATH/test`` (or ``val``) when
  present, else a fixed 20% of the pairs is held out as the test split. ``PATH/classes.txt``
  (one name per line, line i naming id i) fixes the classes; without it they are 0..max id.
  Images keep their size when they all have one, else (or with ``--image-size``) they are resized
  square: bilinear for images, nearest for masks.
- ``synthetic-seg``: generated grey 32x32 images of squares and disks on noise, for tests.

Masks are uint8 (N, H, W); `load_segmentation` splits them (no stratification: an image holds
several classes) and computes the statistics. Augmentation flips image and mask together
(`augment_pair`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ._errors import DatasetError, DatasetNotFound
from ._idx import FASHION_CLASSES, FASHION_SOURCE, load_idx_folder
from ._locate import locate
from ._registry import DatasetSpec, LoadRequest, RawData, register
from ._split import channel_stats
from ._types import Dataset, Split

BACKGROUND = "background"
FMNIST_SEG_CLASSES = (BACKGROUND, *FASHION_CLASSES)
#: the side of a canvas, unless --image-size says otherwise
CANVAS = 64
#: canvases made from the training split (train and val together, before --subset), and from the test split
TRAIN_CANVASES = 6000
TEST_CANVASES = 1000
MAX_ITEMS = 4
#: an item's pixel above this (of 255) is labelled with its class; below, it only shades the canvas
THRESHOLD = 64
#: the test canvases, and imagefolder-seg's held-out test pairs, never move with the search seed
TEST_SEED = 0
TEST_FRACTION = 0.2
MASK_MODES = {"L", "P", "I", "I;16", "1"}
SYNTHETIC_CLASSES = (BACKGROUND, "square", "disk")


def load_segmentation(
    spec: DatasetSpec,
    path: str | None,
    data_dir: str | None,
    image_size: int | None,
    val_fraction: float,
    seed: int,
    download: bool,
    subset: int | None,
) -> Dataset:
    """`load_dataset` for a segmentation spec: its loader's images and masks, split into
    train/val (a seeded random hold-out, or the loader's own: `meta["n_val"]`) and test."""
    req = LoadRequest(spec.name, path, data_dir, image_size, seed, download, val_fraction, subset)
    raw = spec.load(req)
    name = f"{spec.name}:{path}" if path else spec.name
    _check(raw, name)
    n = len(raw.y_train)
    meta = dict(raw.meta)
    n_val = meta.pop("n_val", None)
    if n_val is not None:  # the loader split and subset it (fmnist-seg: disjoint items)
        train_idx, val_idx = torch.arange(n - n_val), torch.arange(n - n_val, n)
    else:
        g = torch.Generator().manual_seed(seed)
        perm = torch.randperm(n, generator=g)
        k = round(n * val_fraction)
        if val_fraction > 0 and k == 0 and n > 1:
            k = 1
        val_idx, train_idx = perm[:k].sort().values, perm[k:].sort().values
        if subset is not None and subset < len(train_idx):
            keep_val = round(len(val_idx) * subset / len(train_idx))
            train_idx = train_idx[torch.randperm(len(train_idx), generator=g)[:subset].sort().values]
            val_idx = val_idx[torch.randperm(len(val_idx), generator=g)[:keep_val].sort().values]
    train = Split(raw.x_train[train_idx], raw.y_train[train_idx])
    val = Split(raw.x_train[val_idx], raw.y_train[val_idx])
    mean, std = channel_stats(train.x)
    meta |= {"seed": seed, "val_fraction": val_fraction, "subset": subset, "train_full": n, "task": "segment"}
    return Dataset(
        name=name,
        train=train,
        val=val,
        test=Split(raw.x_test, raw.y_test),
        num_classes=raw.num_classes,
        mean=mean,
        std=std,
        augment=spec.augment,
        flip=spec.augment and spec.flip,
        crop_padding=0,
        meta=meta,
    )


def _check(raw: RawData, name: str) -> None:
    """A segmentation loader's output: uint8 images (N, C, H, W) and masks (N, H, W) of ids < K."""
    if raw.num_classes < 2:
        raise DatasetError(f"dataset {name!r} has {raw.num_classes} class(es); it needs at least 2")
    if len(raw.y_train) == 0:
        raise DatasetError(f"dataset {name!r} has no training images; check its files")
    for x, y, part in ((raw.x_train, raw.y_train, "train"), (raw.x_test, raw.y_test, "test")):
        if x.dtype != torch.uint8 or x.dim() != 4 or y.dtype != torch.uint8 or y.dim() != 3:
            raise DatasetError(
                f"dataset {name!r}: loader gave {part} x {x.dtype}{list(x.shape)} and masks "
                f"{y.dtype}{list(y.shape)}, expected uint8 (N, C, H, W) and uint8 (N, H, W)"
            )
        if len(x) != len(y) or x.shape[2:] != y.shape[1:]:
            raise DatasetError(f"dataset {name!r}: {part} images {list(x.shape)} and masks {list(y.shape)} differ")
        if len(y) and int(y.max()) >= raw.num_classes:
            raise DatasetError(f"dataset {name!r}: {part} mask id {int(y.max())} outside 0..{raw.num_classes - 1}")


# ---- augmentation ---------------------------------------------------------------------------
def augment_pair(
    x: torch.Tensor, y: torch.Tensor, *, flip: bool, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip each image and its mask together, left to right, with probability 1/2.

    x: (N, C, H, W), y: (N, H, W), on one device; random numbers from `generator` (on its own
    device). Returns new tensors, or the inputs when `flip` is off.
    """
    if not flip:
        return x, y
    if x.dim() != 4 or y.dim() != 3 or x.shape[0] != y.shape[0] or x.shape[2:] != y.shape[1:]:
        raise ValueError(f"augment_pair expects x (N, C, H, W) and y (N, H, W), got {tuple(x.shape)}, {tuple(y.shape)}")
    dev = generator.device if generator is not None else x.device
    flips = torch.randint(0, 2, (x.shape[0],), device=dev, generator=generator).to(x.device).bool()
    x = torch.where(flips.view(-1, 1, 1, 1), x.flip(-1), x)
    y = torch.where(flips.view(-1, 1, 1), y.flip(-1), y)
    return x, y


# ---- fmnist-seg -----------------------------------------------------------------------------
def make_canvases(
    items: np.ndarray, labels: np.ndarray, pool: np.ndarray, n: int, size: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` canvases of `size` x `size`, each with 1..MAX_ITEMS items drawn from `pool` (indices
    into `items` (M, h, w) uint8 and `labels` (M,)), placed at random; returns uint8 images
    (n, 1, size, size) and masks (n, size, size): class + 1 where an item's pixel > THRESHOLD."""
    h, w = items.shape[1:]
    if size < max(h, w):
        raise DatasetError(f"--image-size {size}: fmnist-seg canvases must be at least {max(h, w)} pixels a side")
    x = np.zeros((n, size, size), dtype=np.uint8)
    y = np.zeros((n, size, size), dtype=np.uint8)
    counts = rng.integers(1, MAX_ITEMS + 1, size=n)
    picks = pool[rng.integers(0, len(pool), size=int(counts.sum()))]
    rows = rng.integers(0, size - h + 1, size=len(picks))
    cols = rng.integers(0, size - w + 1, size=len(picks))
    k = 0
    for i, c in enumerate(counts):
        for _ in range(c):
            item, r, q = items[picks[k]], rows[k], cols[k]
            on = item > THRESHOLD
            region = x[i, r : r + h, q : q + w]
            region[...] = np.where(on, item, np.maximum(region, item))
            y[i, r : r + h, q : q + w][on] = labels[picks[k]] + 1
            k += 1
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


@register("fmnist-seg", flip=True, crop_padding=0, classes=FMNIST_SEG_CLASSES, task="segment")
def load_fmnist_seg(req: LoadRequest) -> RawData:
    """Fashion-MNIST items on 64x64 canvases, 1-4 each: 11 classes per pixel (background + 10)."""
    raw = load_idx_folder(locate(FASHION_SOURCE, data_dir=req.data_dir, download=req.download))
    size = req.image_size or CANVAS
    items, labels = raw.x_train[:, 0].numpy(), raw.y_train.numpy()
    rng = np.random.default_rng([req.seed, 1])
    order = rng.permutation(len(labels))
    n_items_val = round(len(labels) * req.val_fraction)
    n_val = round(TRAIN_CANVASES * req.val_fraction)
    if req.val_fraction > 0:
        n_items_val, n_val = max(1, n_items_val), max(1, n_val)
    n_train = TRAIN_CANVASES - n_val
    if req.subset is not None and req.subset < n_train:
        n_val = round(n_val * req.subset / n_train)
        n_train = req.subset
    x, y = make_canvases(items, labels, order[n_items_val:], n_train, size, np.random.default_rng([req.seed, 2]))
    parts = [(x, y)]
    if n_val:
        parts.append(
            make_canvases(items, labels, order[:n_items_val], n_val, size, np.random.default_rng([req.seed, 3]))
        )
    test_items, test_labels = raw.x_test[:, 0].numpy(), raw.y_test.numpy()
    xs, ys = make_canvases(
        test_items, test_labels, np.arange(len(test_labels)), TEST_CANVASES, size, np.random.default_rng([TEST_SEED, 4])
    )
    meta = {"source": raw.meta.get("source"), "classes": list(FMNIST_SEG_CLASSES), "n_val": n_val}
    return RawData(
        torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]), xs, ys, len(FMNIST_SEG_CLASSES), meta
    )


# ---- synthetic-seg --------------------------------------------------------------------------
def make_synthetic_seg(seed: int, n: int, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` grey images of 1-3 squares (class 1, bright) and disks (class 2, dark) on noise."""
    g = torch.Generator().manual_seed(seed)
    x = 128 + 20 * torch.randn(n, size, size, generator=g)
    y = torch.zeros(n, size, size, dtype=torch.uint8)
    rr, cc = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    for i in range(n):
        for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
            cls = int(torch.randint(1, 3, (1,), generator=g))
            r = int(torch.randint(size // 8, size - size // 8, (1,), generator=g))
            c = int(torch.randint(size // 8, size - size // 8, (1,), generator=g))
            s = int(torch.randint(max(2, size // 10), max(3, size // 4), (1,), generator=g))
            if cls == 1:
                on = ((rr - r).abs() <= s) & ((cc - c).abs() <= s)
            else:
                on = (rr - r) ** 2 + (cc - c) ** 2 <= s * s
            x[i][on] = 220.0 if cls == 1 else 40.0
            y[i][on] = cls
    return x.round().clamp(0, 255).to(torch.uint8).unsqueeze(1), y


@register("synthetic-seg", flip=True, crop_padding=0, classes=SYNTHETIC_CLASSES, task="segment")
def load_synthetic_seg(req: LoadRequest) -> RawData:
    """Generated: 400 + 100 grey 32x32 images of squares and disks, 3 classes per pixel."""
    size = req.image_size or 32
    x, y = make_synthetic_seg(req.seed, 400, size)
    xs, ys = make_synthetic_seg(TEST_SEED + 10_000, 100, size)
    return RawData(x, y, xs, ys, len(SYNTHETIC_CLASSES), {"source": "generated", "classes": list(SYNTHETIC_CLASSES)})


# ---- imagefolder-seg:PATH -------------------------------------------------------------------
def _layout(req: LoadRequest) -> tuple[Path, Path, Path | None]:
    root = Path(req.path or "").expanduser()
    if not root.is_dir():
        raise DatasetNotFound(
            f"imagefolder-seg: {root} is not a folder; pass imagefolder-seg:PATH where PATH holds images/ and masks/"
        )
    if (root / "train").is_dir():
        test = next((root / d for d in ("test", "val") if (root / d).is_dir()), None)
        return root, root / "train", test
    return root, root, None


def _pairs(folder: Path) -> list[tuple[Path, Path]]:
    """(image, mask) paths of `folder`/images and `folder`/masks, by name; a one-line error for an
    image without a mask or a mask without an image."""
    images, masks = folder / "images", folder / "masks"
    for d in (images, masks):
        if not d.is_dir():
            raise DatasetError(f"imagefolder-seg: {d} is not a folder; {folder} needs images/ and masks/")

    def pngs(d: Path) -> dict[str, Path]:
        return {p.name: p for p in sorted(d.iterdir()) if p.suffix.lower() == ".png" and not p.name.startswith(".")}

    imgs, msks = pngs(images), pngs(masks)
    for name, p in imgs.items():
        if name not in msks:
            raise DatasetError(f"imagefolder-seg: image {p} has no mask {masks / name}; add it or remove the image")
    for name, p in msks.items():
        if name not in imgs:
            raise DatasetError(f"imagefolder-seg: mask {p} has no image {images / name}; add it or remove the mask")
    if not imgs:
        raise DatasetError(f"imagefolder-seg: {images} holds no PNG images; add image/mask pairs")
    return [(imgs[n], msks[n]) for n in imgs]


def _classes_file(root: Path) -> list[str] | None:
    f = root / "classes.txt"
    if not f.is_file():
        return None
    names = [line.strip() for line in f.read_text().splitlines() if line.strip()]
    if len(names) < 2:
        raise DatasetError(f"{f}: names {len(names)} class(es); list at least two, one per line (line i: id i)")
    return names


def _read_pairs(pairs: list[tuple[Path, Path]], size: int | None, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode the pairs: images (N, H, W, C) in `mode`, masks (N, H, W) of ids; resized to
    `size` (bilinear, nearest) when given, else all must have one size."""
    from ._imagefolder import _pillow

    image_cls, unidentified = _pillow()
    xs, ys = [], []
    for img_path, mask_path in pairs:
        try:
            with image_cls.open(img_path) as im:
                im = im.convert(mode)
                isize = im.size
                if size is not None and im.size != (size, size):
                    im = im.resize((size, size), image_cls.BILINEAR)
                x = np.asarray(im).reshape(im.size[1], im.size[0], -1)
        except (OSError, unidentified, ValueError, SyntaxError) as e:
            raise DatasetError(f"{img_path}: cannot decode image ({e}); remove or replace the file") from None
        try:
            with image_cls.open(mask_path) as m:
                if m.mode not in MASK_MODES:
                    raise DatasetError(
                        f"mask {mask_path} is {m.mode}; a mask holds one class id per pixel (a grey or palette PNG)"
                    )
                if m.size != isize:
                    raise DatasetError(
                        f"mask {mask_path} is {m.size[0]}x{m.size[1]} but its image is {isize[0]}x{isize[1]}; "
                        "a mask must have its image's size"
                    )
                if size is not None and m.size != (size, size):
                    m = m.resize((size, size), image_cls.NEAREST)
                y = np.asarray(m).astype(np.int64)
        except DatasetError:
            raise
        except (OSError, unidentified, ValueError, SyntaxError) as e:
            raise DatasetError(f"{mask_path}: cannot decode mask ({e}); remove or replace the file") from None
        xs.append(x)
        ys.append((y, mask_path))
    shapes = {x.shape[:2] for x in xs}
    if len(shapes) > 1:
        raise DatasetError(f"imagefolder-seg: images of {len(shapes)} sizes; pass --image-size N to resize them square")
    for y, mask_path in ys:
        if y.min() < 0 or y.max() > 255:
            raise DatasetError(f"mask {mask_path}: class id {int(y.max())} outside 0..255")
    return np.stack(xs), np.stack([y for y, _ in ys])


def _check_ids(masks: np.ndarray, pairs: list[tuple[Path, Path]], classes: list[str], where: str) -> None:
    bad = np.nonzero(masks.reshape(len(masks), -1).max(axis=1) >= len(classes))[0]
    if len(bad):
        path = pairs[int(bad[0])][1]
        value = int(masks[bad[0]].max())
        raise DatasetError(
            f"mask {path}: unknown class id {value}; {where} names {len(classes)} classes (ids 0..{len(classes) - 1})"
        )


def imagefolder_seg_classes(req: LoadRequest) -> list[str]:
    """classes.txt's names, else "0".."K-1" with K one more than the largest id in the training masks."""
    root, train_dir, _ = _layout(req)
    names = _classes_file(root)
    if names is not None:
        return names
    _, masks = _read_pairs(_pairs(train_dir), req.image_size, "L")
    return [str(i) for i in range(max(2, int(masks.max()) + 1))]


@register(
    "imagefolder-seg", takes_path=True, flip=True, crop_padding=0, list_classes=imagefolder_seg_classes, task="segment"
)
def load_imagefolder_seg(req: LoadRequest) -> RawData:
    """Images and class-id masks: images/ and masks/ PNG pairs of the same names (train/, test/)."""
    from ._imagefolder import GREY_MODES, _pillow

    root, train_dir, test_dir = _layout(req)
    train_pairs = _pairs(train_dir)
    test_pairs = _pairs(test_dir) if test_dir is not None else []
    image_cls, _ = _pillow()
    mode = "L"
    for img_path, _mask in train_pairs + test_pairs:
        with image_cls.open(img_path) as im:
            if im.mode not in GREY_MODES:
                mode = "RGB"
                break
    x, y = _read_pairs(train_pairs, req.image_size, mode)
    declared = _classes_file(root)
    classes = declared or [str(i) for i in range(max(2, int(y.max()) + 1))]
    where = str(root / "classes.txt") if declared else "the training masks (their largest id)"
    _check_ids(y, train_pairs, classes, where)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    yt = torch.from_numpy(y.astype(np.uint8))
    if test_dir is not None:
        xs_np, ys_np = _read_pairs(test_pairs, req.image_size or x.shape[1], mode)
        _check_ids(ys_np, test_pairs, classes, where)
        xs, ys = torch.from_numpy(xs_np).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(ys_np.astype(np.uint8))
    else:
        out = _holdout_index(len(yt))  # a fixed 20% as the test split (never moves with the search seed)
        keep = torch.ones(len(yt), dtype=torch.bool)
        keep[out] = False
        xt, yt, xs, ys = xt[keep], yt[keep], xt[out], yt[out]
    meta = {"source": os.fspath(root), "classes": classes, "test_from": str(test_dir or "holdout 20%")}
    return RawData(xt, yt, xs, ys, len(classes), meta)


def _holdout_index(n: int) -> torch.Tensor:
    """The sorted indices of imagefolder-seg's fixed 20% test hold-out of `n` pairs."""
    g = torch.Generator().manual_seed(TEST_SEED)
    k = max(1, round(n * TEST_FRACTION)) if n > 1 else 0
    return torch.randperm(n, generator=g)[:k].sort().values
