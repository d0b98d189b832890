"""MNIST and Fashion-MNIST: the four IDX files (gzip-compressed or not), parsed here."""

from __future__ import annotations

import gzip
import struct
import zlib
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ._errors import DatasetError
from ._locate import Source, fetch_files, file_in, locate, read_bytes
from ._registry import LoadRequest, RawData, register

FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
# (mirror base urls, md5 per file in FILES order) of the official releases
_FASHION_URLS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
_FASHION_MD5 = (
    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "25c81989df183df01b3e8a0aad5dffbe",
    "bef4ecab320f06d8554ea6380940ec79",
    "bb300cfdad3c16e7a12a480ee83cd310",
)
_MNIST_URLS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_MNIST_MD5 = (
    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "d53e105ee54ea40749a09fcbcd1e9432",
    "9fb629c4189551a2d022fa330f9573f3",
    "ec29112dd5afa0611ce80d1b7f02629c",
)
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_CLASSES = tuple(str(i) for i in range(10))
# of the whole training split (60000 images), as load_dataset("fashion-mnist", val_fraction=0)
# computes them (exact: a 256-bin histogram); tests/final/test_export_files.py checks them
# against the files where they are installed
FASHION_MEAN = (0.2860405969887955,)
FASHION_STD = (0.35302424451492254,)


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file of unsigned bytes with `ndim` dimensions (magic 0x000008<ndim>) as an array.

    Raises:
        DatasetError: naming the file when it is not gzip/IDX, has the wrong magic number, or
        its size disagrees with its header (truncated).
    """
    raw = read_bytes(path)
    fix = "delete it and get the dataset again"
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DatasetError(f"{path}: corrupt or truncated gzip data ({e}); {fix}") from None
    want = 0x800 + ndim
    magic = struct.unpack(">I", raw[:4])[0] if len(raw) >= 4 else None
    if magic != want:
        got = f"0x{magic:08x}" if magic is not None else f"{len(raw)} bytes"
        raise DatasetError(
            f"{path}: not an IDX file of {ndim}-d unsigned bytes (magic {got}, expected 0x{want:08x}); {fix}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header ({len(raw)} bytes); {fix}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    size = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != size:
        raise DatasetError(
            f"{path}: {len(raw)} bytes but its header {list(dims)} needs {size} (truncated or corrupt); {fix}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def load_idx_folder(folder: Path, num_classes: int = 10) -> RawData:
    """Train and test images (N, 1, H, W) and labels from the four IDX files in `folder`."""
    arrays = []
    for fname in FILES:
        path = file_in(folder, fname)
        arrays.append((path, read_idx(path, 3 if "images" in fname else 1)))
    (pxt, xt), (pyt, yt), (pxs, xs), (pys, ys) = arrays
    for (px, x), (py, y) in (((pxt, xt), (pyt, yt)), ((pxs, xs), (pys, ys))):
        if len(x) != len(y):
            raise DatasetError(
                f"{py}: {len(y)} labels for {len(x)} images in {px.name}; the files do not "
                "belong together, get the dataset again"
            )
        if len(y) and int(y.max()) >= num_classes:
            raise DatasetError(f"{py}: label {int(y.max())} outside 0..{num_classes - 1}; get the dataset again")
    if xt.shape[1:] != xs.shape[1:]:
        raise DatasetError(f"{pxs}: images are {xs.shape[1:]}, train images {xt.shape[1:]}")
    return RawData(
        torch.from_numpy(xt).unsqueeze(1),
        torch.from_numpy(yt).long(),
        torch.from_numpy(xs).unsqueeze(1),
        torch.from_numpy(ys).long(),
        num_classes,
        {"source": str(folder)},
    )


def _fetch(urls: tuple[str, ...], md5s: tuple[str, ...], dest: Path) -> None:
    fetch_files(dest, [(f, [u + f for u in urls], m) for f, m in zip(FILES, md5s, strict=True)])


FASHION_SOURCE = Source(
    "fashion-mnist",
    FILES,
    subdirs=("FashionMNIST/raw",),
    fetch=partial(_fetch, _FASHION_URLS, _FASHION_MD5),
    hint="run `apt-get install dataset-fashion-mnist` (installs /usr/share/datasets/fashion-mnist), or ",
)
MNIST_SOURCE = Source(
    "mnist",
    FILES,
    subdirs=("MNIST/raw",),
    fetch=partial(_fetch, _MNIST_URLS, _MNIST_MD5),
    hint=f"download the four files from {_MNIST_URLS[0]}, or ",
)


@register(
    "fashion-mnist",
    flip=True,
    crop_padding=2,
    classes=FASHION_CLASSES,
    input_shape=(1, 28, 28),
    mean=FASHION_MEAN,
    std=FASHION_STD,
)
def load_fashion_mnist(req: LoadRequest) -> RawData:
    """Zalando's Fashion-MNIST: 60000 + 10000 grey 28x28 images of 10 clothing classes."""
    raw = load_idx_folder(locate(FASHION_SOURCE, data_dir=req.data_dir, download=req.download))
    raw.meta["classes"] = list(FASHION_CLASSES)
    return raw


# MNIST's statistics are not registered: they were never computed from the files here
@register("mnist", flip=False, crop_padding=2, classes=MNIST_CLASSES, input_shape=(1, 28, 28))
def load_mnist(req: LoadRequest) -> RawData:
    """LeCun's MNIST digits: 60000 + 10000 grey 28x28 images (no flips: digits are chiral)."""
    raw = load_idx_folder(locate(MNIST_SOURCE, data_dir=req.data_dir, download=req.download))
    raw.meta["classes"] = list(MNIST_CLASSES)
    return raw
