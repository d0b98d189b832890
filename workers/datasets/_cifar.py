"""CIFAR-10: the `cifar-10-batches-py` folder of pickled batches, read with a restricted unpickler.

A pickle can run any callable it names, so the batches are never given to `pickle.load`: the
unpickler below resolves only the few numpy/codecs globals that an array needs and refuses
every other one, which turns a malicious or foreign file into a `DatasetError`.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch

from ._errors import DatasetError
from ._locate import DownloadFailed, Source, download, locate, read_bytes
from ._registry import LoadRequest, RawData, register

DIRNAME = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
FILES = (*TRAIN_BATCHES, "test_batch")
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def _numpy_global(*paths: str):
    """The first attribute path that exists under numpy (`_core` in numpy 2, `core` in 1)."""
    for path in paths:
        obj = np
        try:
            for part in path.split("."):
                obj = getattr(obj, part)
            return obj
        except AttributeError:
            continue
    return None


_RECONSTRUCT = _numpy_global("_core.multiarray._reconstruct", "core.multiarray._reconstruct")
_FROMBUFFER = _numpy_global("_core.numeric._frombuffer", "core.numeric._frombuffer")
# (module, name) -> object: exactly what pickled numpy arrays and Python 2 byte strings use
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class _Refused(pickle.UnpicklingError):
    pass


class SafeUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays; any other global is refused."""

    def find_class(self, module: str, name: str):
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise _Refused(f"{module}.{name}")
        return obj


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 3, 32, 32) uint8, labels (N,) int64) of one CIFAR-10 batch file.

    Raises:
        DatasetError: naming the file when it is truncated, not a CIFAR batch, or names a
        global that is not allowed.
    """
    fix = "delete it and get the dataset again"
    try:
        obj = SafeUnpickler(io.BytesIO(read_bytes(path)), encoding="bytes").load()
    except _Refused as e:
        raise DatasetError(f"{path}: refused to unpickle, it calls {e} which a CIFAR batch never does; {fix}") from None
    except Exception as e:  # noqa: BLE001 - truncated pickles fail in many ways
        raise DatasetError(f"{path}: not a readable CIFAR batch ({type(e).__name__}: {e}); {fix}") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{path}: holds a {type(obj).__name__}, not a CIFAR batch dict; {fix}")
    obj = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
    data, labels = obj.get("data"), obj.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or (data.shape[1] != 3072):
        got = f"{data.dtype}{list(data.shape)}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetError(f"{path}: 'data' is {got}, expected uint8 (N, 3072); {fix}")
    try:
        y = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise DatasetError(f"{path}: 'labels' is not a list of integers; {fix}") from None
    if len(y) != len(data):
        raise DatasetError(f"{path}: {len(y)} labels for {len(data)} images; {fix}")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise DatasetError(f"{path}: label {int(y.max())} outside 0..9; {fix}")
    return data.reshape(-1, 3, 32, 32), y


def fetch_cifar10(dest: Path) -> None:
    """Download the official tarball and unpack only the batch files into `dest/DIRNAME`."""
    dest.mkdir(parents=True, exist_ok=True)
    tgz = dest / "cifar-10-python.tar.gz"
    if not tgz.is_file():
        download(URL, tgz, MD5)
    out = dest / DIRNAME
    out.mkdir(exist_ok=True)
    try:
        with tarfile.open(tgz, "r:gz") as tar:
            for fname in (*FILES, "batches.meta"):
                member = tar.getmember(f"{DIRNAME}/{fname}")
                src = tar.extractfile(member) if member.isfile() else None
                if src is None:
                    raise DownloadFailed(f"{tgz}: {fname} is not a file")
                # our own names (no path traversal), renamed into place (no half files)
                part = out / f"{fname}.{os.getpid()}.part"
                part.write_bytes(src.read())
                os.replace(part, out / fname)
    except (tarfile.TarError, KeyError, EOFError) as e:
        tgz.unlink(missing_ok=True)
        raise DownloadFailed(f"{tgz}: bad archive ({e})") from e
    tgz.unlink(missing_ok=True)


SOURCE = Source(
    "cifar10",
    FILES,
    subdirs=(DIRNAME, f"cifar10/{DIRNAME}"),
    fetch=fetch_cifar10,
    hint=f"download {URL} and unpack it (it holds {DIRNAME}/), or ",
)


# the statistics are not registered: they were never computed from the files here
@register("cifar10", flip=True, crop_padding=4, classes=CLASSES, input_shape=(3, 32, 32))
def load_cifar10(req: LoadRequest) -> RawData:
    """Krizhevsky's CIFAR-10: 50000 + 10000 colour 32x32 images of 10 classes."""
    folder = locate(SOURCE, data_dir=req.data_dir, download=req.download)
    train = [read_batch(folder / f) for f in TRAIN_BATCHES]
    xs, ys = read_batch(folder / "test_batch")
    return RawData(
        torch.from_numpy(np.concatenate([x for x, _ in train])),
        torch.from_numpy(np.concatenate([y for _, y in train])),
        torch.from_numpy(np.ascontiguousarray(xs)),
        torch.from_numpy(ys),
        10,
        {"source": str(folder), "classes": list(CLASSES)},
    )
