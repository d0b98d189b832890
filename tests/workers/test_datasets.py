"""Dataset registry: every loader reads small files written here in the real formats."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import pickle
import struct
import tarfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.workers.segfiles import write_seg_folder
from workers.datasets import (  # _cifar, _idx, _locate: module constants the tests repoint
    Dataset,
    DatasetError,
    DatasetNotFound,
    _cifar,
    _idx,
    _locate,
    augment_batch,
    load_dataset,
    names,
)

IDX_FILES = {
    "train-images-idx3-ubyte.gz": "x_train",
    "train-labels-idx1-ubyte.gz": "y_train",
    "t10k-images-idx3-ubyte.gz": "x_test",
    "t10k-labels-idx1-ubyte.gz": "y_test",
}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real data leaks in: empty home/cache, no $NAS_DATA_DIR, an empty system folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("NAS_DATA_DIR", raising=False)
    monkeypatch.setattr(_locate, "SYSTEM_ROOTS", (tmp_path / "usr-share-datasets",))


# ---------------------------------------------------------------- writers of the real formats


def labelled_images(n: int, shape: tuple[int, ...], classes: int = 10, seed: int = 0):
    """uint8 images whose first two pixels encode their index (to track them through splits)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    flat = x.reshape(n, -1)
    flat[:, 0], flat[:, 1] = np.arange(n) // 256, np.arange(n) % 256
    y = np.arange(n) % classes
    return x, y


def image_ids(x: torch.Tensor) -> set[int]:
    flat = x.reshape(len(x), -1).long()
    return set((flat[:, 0] * 256 + flat[:, 1]).tolist())


def write_idx(path: Path, arr: np.ndarray) -> None:
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    data = struct.pack(">I", 0x800 + arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data += arr.tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def write_mnist(folder: Path, n_train=200, n_test=50, gz=True, seed=0) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    x, y = labelled_images(n_train, (28, 28), seed=seed)
    xs, ys = labelled_images(n_test, (28, 28), seed=seed + 1)
    arrays = {"x_train": x, "y_train": y, "x_test": xs, "y_test": ys}
    for fname, key in IDX_FILES.items():
        write_idx(folder / (fname if gz else fname[:-3]), arrays[key])
    return arrays


def _py2_str(b: bytes) -> bytes:
    return b"T" + struct.pack("<i", len(b)) + b  # BINSTRING: a Python 2 str


def py2_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """{'data': uint8 (N, 3072), 'labels': [...]} as Python 2's cPickle wrote the real batches."""
    n, d = data.shape
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85"
        + _py2_str(b"b")
        + b"\x87R(K\x01M"
        + struct.pack("<H", n)
        + b"M"
        + struct.pack("<H", d)
        + b"\x86"
        + b"cnumpy\ndtype\n"
        + _py2_str(b"u1")
        + b"K\x00K\x01\x87R(K\x03"
        + _py2_str(b"|")
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89"
        + _py2_str(data.tobytes())
        + b"tb"
    )
    label_list = b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    return b"\x80\x02}(" + _py2_str(b"data") + array + _py2_str(b"labels") + label_list + b"u."


def write_cifar(folder: Path, per_batch=40, protocol="py2") -> dict:
    """`cifar-10-batches-py` as the real one: dicts with bytes keys, b'data' uint8 (N, 3072)."""
    d = folder / "cifar-10-batches-py"
    d.mkdir(parents=True)
    xs, ys = [], []
    for i, fname in enumerate([f"data_batch_{j}" for j in range(1, 6)] + ["test_batch"]):
        x, y = labelled_images(per_batch, (3, 32, 32), seed=i)
        batch = {
            b"batch_label": f"batch {i}".encode(),
            b"labels": [int(v) for v in y],
            b"data": x.reshape(per_batch, 3072),
            b"filenames": [b"f.png"] * per_batch,
        }
        if protocol == "py2":
            (d / fname).write_bytes(py2_pickle(batch[b"data"], batch[b"labels"]))
        else:
            (d / fname).write_bytes(pickle.dumps(batch, protocol=protocol))
        xs.append(x)
        ys.append(y)
    return {"x_test": xs[-1], "y_test": ys[-1], "n_train": 5 * per_batch}


def write_png(path: Path, arr: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def write_imagefolder(root: Path, split=True, per_class=10, rgb=True) -> dict:
    rng = np.random.default_rng(0)
    classes = ["cat", "dog", "eel"]
    parts = {"train": per_class, "test": per_class // 2} if split else {"": per_class}
    for part, n in parts.items():
        for c in classes:
            for i in range(n):
                h, w = rng.integers(20, 48, size=2)  # any size: resized on load
                shape = (h, w, 3) if rgb else (h, w)
                arr = rng.integers(0, 256, size=shape, dtype=np.uint8)
                write_png(root / part / c / f"{i:03d}.png", arr)
    return {"classes": classes}


def write_npz(path: Path, layout="NHWC", test=True) -> dict:
    n, c, h, w = 100, 3, 16, 16
    x, y = labelled_images(n, (c, h, w))
    xs, ys = labelled_images(30, (c, h, w), seed=1)
    store = {
        "NCHW": lambda a: a,
        "NHWC": lambda a: a.transpose(0, 2, 3, 1),
        "NHW": lambda a: a[:, 0],
    }
    arrays = {"x": store[layout](x), "y": y}
    if test:
        arrays |= {"x_test": store[layout](xs), "y_test": ys}
    np.savez(path, **arrays)
    return {"x": x, "x_test": xs, "y_test": ys}


# name -> writes the dataset under tmp_path, returns (name to load, load kwargs, expected)
WRITERS = {
    "fashion-mnist": lambda p: (
        "fashion-mnist",
        {"data_dir": p},
        dict(write_mnist(p / "fashion-mnist"), shape=(1, 28, 28)),
    ),
    "mnist": lambda p: ("mnist", {"data_dir": p / "m"}, dict(write_mnist(p / "m"), shape=(1, 28, 28))),
    "cifar10": lambda p: ("cifar10", {"data_dir": p}, dict(write_cifar(p), shape=(3, 32, 32))),
    "imagefolder": lambda p: (
        f"imagefolder:{p / 'imgs'}",
        {"image_size": 24},
        dict(write_imagefolder(p / "imgs"), shape=(3, 24, 24)),
    ),
    "npz": lambda p: (f"npz:{p / 'd.npz'}", {}, dict(write_npz(p / "d.npz"), shape=(3, 16, 16))),
    "synthetic": lambda p: ("synthetic", {}, {"shape": (1, 28, 28)}),
    # segmentation (masks; tests/workers/test_segdata.py has their own tests)
    "fmnist-seg": lambda p: (
        "fmnist-seg",
        {"data_dir": p, "image_size": 32, "subset": 40},
        {"shape": (1, 32, 32), "files": write_mnist(p / "fashion-mnist")},
    ),
    "imagefolder-seg": lambda p: (
        f"imagefolder-seg:{p / 'seg'}",
        {},
        {"shape": (3, 20, 24), "masks": write_seg_folder(p / "seg")},
    ),
    "synthetic-seg": lambda p: ("synthetic-seg", {}, {"shape": (1, 32, 32)}),
}
# name -> (augment, flip, crop_padding) defaults
AUGMENT = {
    "fashion-mnist": (True, True, 2),
    "mnist": (True, False, 2),
    "cifar10": (True, True, 4),
    "imagefolder": (True, True, 3),  # one eighth of the 24-pixel side
    "npz": (True, True, 2),
    "synthetic": (False, False, 0),
    "fmnist-seg": (True, True, 0),  # image and mask flip together; no crops
    "imagefolder-seg": (True, True, 0),
    "synthetic-seg": (True, True, 0),
}


def test_every_registered_dataset_is_under_test():
    assert set(names()) == set(WRITERS) == set(AUGMENT)
    assert {"fashion-mnist", "mnist", "cifar10", "imagefolder", "npz", "synthetic"} <= set(names())


@pytest.mark.parametrize("name", names())
def test_loader_contract(name, tmp_path):
    load_name, kwargs, expected = WRITERS[name](tmp_path)
    ds = load_dataset(load_name, download=False, **kwargs)
    assert isinstance(ds, Dataset)
    assert ds.input_shape == expected["shape"]
    for split in (ds.train, ds.val, ds.test):
        assert split.x.dtype == torch.uint8 and split.y.dtype == (torch.uint8 if ds.task == "segment" else torch.int64)
        assert split.x.shape[1:] == expected["shape"] and len(split.x) == len(split)
        assert int(split.y.min()) >= 0 and int(split.y.max()) < ds.num_classes
    assert len(ds.train) > 0 and len(ds.val) > 0 and len(ds.test) > 0
    assert len(ds.mean) == len(ds.std) == expected["shape"][0]
    assert all(0 < m < 1 for m in ds.mean) and all(s > 0 for s in ds.std)
    assert (ds.augment, ds.flip, ds.crop_padding) == AUGMENT[name]
    assert not ds.normalized
    if "y_test" in expected:  # the test split is the file's test set, untouched and in order
        assert torch.equal(ds.test.y, torch.as_tensor(expected["y_test"], dtype=torch.long))
    if "x_test" in expected:
        want = torch.from_numpy(expected["x_test"]).reshape(ds.test.x.shape)
        assert torch.equal(ds.test.x, want)


def test_val_split_is_stratified_deterministic_and_disjoint(tmp_path):
    write_mnist(tmp_path, n_train=500)
    a = load_dataset("mnist", data_dir=tmp_path, download=False, val_fraction=0.2, seed=3)
    b = load_dataset("mnist", data_dir=tmp_path, download=False, val_fraction=0.2, seed=3)
    c = load_dataset("mnist", data_dir=tmp_path, download=False, val_fraction=0.2, seed=4)
    assert len(a.val) == 100 and len(a.train) == 400
    assert torch.equal(a.val.x, b.val.x) and torch.equal(a.train.y, b.train.y)
    assert not torch.equal(a.val.x, c.val.x)
    assert torch.bincount(a.val.y).tolist() == [10] * 10  # 50 per class in, 10 per class out
    train_ids, val_ids = image_ids(a.train.x), image_ids(a.val.x)
    assert not train_ids & val_ids and len(train_ids | val_ids) == 500
    assert a.meta["train_full"] == 500


def test_val_fraction_zero_gives_whole_training_set(tmp_path):
    arrays = write_mnist(tmp_path)
    ds = load_dataset("mnist", data_dir=tmp_path, download=False, val_fraction=0)
    assert len(ds.val) == 0 and ds.val.x.shape[1:] == (1, 28, 28)
    assert torch.equal(ds.train.x[:, 0], torch.from_numpy(arrays["x_train"]))


def test_subset_is_stratified_and_proportional(tmp_path):
    write_mnist(tmp_path, n_train=1000)
    full = load_dataset("mnist", data_dir=tmp_path, download=False)
    ds = load_dataset("mnist", data_dir=tmp_path, download=False, subset=300)
    again = load_dataset("mnist", data_dir=tmp_path, download=False, subset=300)
    assert len(ds.train) == 300 and torch.bincount(ds.train.y).tolist() == [30] * 10
    assert len(ds.val) == round(100 * 300 / 900)
    assert torch.equal(ds.test.x, full.test.x)
    assert image_ids(ds.train.x) <= image_ids(full.train.x)
    assert image_ids(ds.val.x) <= image_ids(full.val.x)
    assert torch.equal(ds.train.x, again.train.x)


def test_to_normalises_with_train_statistics(tmp_path):
    write_cifar(tmp_path)
    ds = load_dataset("cifar10", data_dir=tmp_path, download=False)
    dev = ds.to("cpu")
    assert dev.normalized and not ds.normalized and ds.train.x.dtype == torch.uint8
    x = dev.train.x
    assert x.dtype == torch.float32 and x.shape == ds.train.x.shape
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(x.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)
    assert dev.test.x.dtype == torch.float32 and dev.val.y.dtype == torch.int64
    half = dev.to("cpu", torch.bfloat16)  # already normalised: only cast
    assert half.train.x.dtype == torch.bfloat16
    assert torch.allclose(half.train.x.float(), x, atol=0.05)


def test_search_order(tmp_path, monkeypatch):
    home_cache = tmp_path / "home" / ".cache" / "nas" / "datasets" / "mnist"
    system = tmp_path / "usr-share-datasets" / "mnist"
    env_dir, arg_dir = tmp_path / "env", tmp_path / "arg"
    for folder in (home_cache, system, env_dir / "mnist", arg_dir):
        write_mnist(folder)

    def source(**kw) -> str:
        return load_dataset("mnist", download=False, **kw).meta["source"]

    monkeypatch.setenv("NAS_DATA_DIR", str(env_dir))
    assert source(data_dir=arg_dir) == str(arg_dir)
    assert source() == str(env_dir / "mnist")  # a parent holding mnist/ works too
    monkeypatch.delenv("NAS_DATA_DIR")
    assert source() == str(system)
    monkeypatch.setattr(_locate, "SYSTEM_ROOTS", ())
    assert source() == str(home_cache)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    with pytest.raises(DatasetNotFound):
        source()


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_download_idx_into_cache(tmp_path, monkeypatch):
    """The real download path, served from file:// URLs (no network in tests)."""
    arrays = write_mnist(tmp_path / "mirror")
    md5s = tuple(_md5(tmp_path / "mirror" / f) for f in _idx.FILES)
    fetch = partial(_idx._fetch, (f"file://{tmp_path}/mirror/",), md5s)
    source = dataclasses.replace(_idx.FASHION_SOURCE, fetch=fetch)
    monkeypatch.setattr(_idx, "FASHION_SOURCE", source)
    ds = load_dataset("fashion-mnist", val_fraction=0)
    cache = tmp_path / "home" / ".cache" / "nas" / "datasets" / "fashion-mnist"
    assert ds.meta["source"] == str(cache) and sorted(p.name for p in cache.iterdir()) == sorted(_idx.FILES)
    assert torch.equal(ds.test.x[:, 0], torch.from_numpy(arrays["x_test"]))


def test_download_checksum_mismatch_falls_through_to_not_found(tmp_path, monkeypatch):
    write_mnist(tmp_path / "mirror")
    fetch = partial(_idx._fetch, (f"file://{tmp_path}/mirror/",), ("0" * 32,) * 4)
    monkeypatch.setattr(_idx, "MNIST_SOURCE", dataclasses.replace(_idx.MNIST_SOURCE, fetch=fetch))
    with pytest.raises(DatasetNotFound, match="checksum mismatch"):
        load_dataset("mnist")
    cache = tmp_path / "home" / ".cache" / "nas" / "datasets" / "mnist"
    assert list(cache.iterdir()) == []  # no partial file left behind


def test_download_cifar_tarball_into_cache(tmp_path, monkeypatch):
    expected = write_cifar(tmp_path / "src")
    tgz = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        tar.add(tmp_path / "src" / "cifar-10-batches-py" / "test_batch", arcname="cifar-10-batches-py/batches.meta")
    monkeypatch.setattr(_cifar, "URL", f"file://{tgz}")
    monkeypatch.setattr(_cifar, "MD5", _md5(tgz))
    ds = load_dataset("cifar10")
    cache = tmp_path / "home" / ".cache" / "nas" / "datasets" / "cifar10"
    assert ds.meta["source"] == str(cache / "cifar-10-batches-py")
    assert not (cache / "cifar-10-python.tar.gz").exists()
    assert torch.equal(ds.test.x, torch.from_numpy(expected["x_test"]))


def test_uncompressed_idx_files_are_found(tmp_path):
    arrays = write_mnist(tmp_path, gz=False)
    ds = load_dataset("mnist", data_dir=tmp_path, download=False, val_fraction=0)
    assert torch.equal(ds.test.x[:, 0], torch.from_numpy(arrays["x_test"]))


@pytest.mark.parametrize("name", ["fashion-mnist", "mnist", "cifar10"])
def test_missing_files_raise_not_found_with_the_fix(name, tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(DatasetNotFound) as err:
        load_dataset(name, data_dir=tmp_path / "nowhere", download=False)
    msg = str(err.value)
    assert "\n" not in msg
    for part in (
        str(tmp_path / "nowhere"),
        str(tmp_path / "env"),
        "--data-dir",
        "NAS_DATA_DIR",
        str(tmp_path / "usr-share-datasets" / name),
        "download=False",
    ):
        assert part in msg
    if name == "fashion-mnist":
        assert "apt-get install dataset-fashion-mnist" in msg


def test_incomplete_folder_names_the_missing_file(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFound, match="missing t10k-labels-idx1-ubyte.gz"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


@pytest.mark.parametrize("name", ["imagefolder", "npz"])
def test_missing_path_raises_not_found(name, tmp_path):
    with pytest.raises(DatasetNotFound, match=f"{name}:PATH"):
        load_dataset(f"{name}:{tmp_path / 'absent'}")


def _truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _corrupt_idx_gz(p: Path) -> Path:
    write_mnist(p)
    return _truncate(p / "train-images-idx3-ubyte.gz")


def _corrupt_idx_magic(p: Path) -> Path:
    write_mnist(p)
    write_idx(p / "t10k-labels-idx1-ubyte.gz", np.zeros((5, 2), np.uint8))  # 2-d: magic 0x802
    return p / "t10k-labels-idx1-ubyte.gz"


def _corrupt_idx_count(p: Path) -> Path:
    write_mnist(p)
    write_idx(p / "train-labels-idx1-ubyte.gz", np.zeros(7, np.uint8))
    return p / "train-labels-idx1-ubyte.gz"


def _corrupt_idx_raw(p: Path) -> Path:
    write_mnist(p, gz=False)
    return _truncate(p / "train-images-idx3-ubyte", 0.9)


def _corrupt_cifar(p: Path) -> Path:
    write_cifar(p)
    return _truncate(p / "cifar-10-batches-py" / "data_batch_3")


class _Evil:
    def __reduce__(self):
        return (os.getpid, ())  # harmless, but a global that no CIFAR batch names


def _evil_cifar(p: Path) -> Path:
    write_cifar(p)
    path = p / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}, protocol=2))
    return path


def _corrupt_png(p: Path) -> Path:
    write_imagefolder(p / "imgs", split=False)
    return _truncate(p / "imgs" / "dog" / "003.png", 0.3)


def _corrupt_npz(p: Path) -> Path:
    write_npz(p / "d.npz")
    return _truncate(p / "d.npz")


CORRUPT = {  # writer -> dataset name to load
    _corrupt_idx_gz: "mnist",
    _corrupt_idx_magic: "mnist",
    _corrupt_idx_count: "mnist",
    _corrupt_idx_raw: "mnist",
    _corrupt_cifar: "cifar10",
    _evil_cifar: "cifar10",
    _corrupt_png: "imagefolder:{p}/imgs",
    _corrupt_npz: "npz:{p}/d.npz",
}


@pytest.mark.parametrize("writer", list(CORRUPT), ids=lambda f: f.__name__.strip("_"))
def test_corrupt_file_error_names_the_file(writer, tmp_path):
    bad = writer(tmp_path)
    with pytest.raises(DatasetError) as err:
        load_dataset(CORRUPT[writer].format(p=tmp_path), data_dir=tmp_path, download=False)
    assert not isinstance(err.value, DatasetNotFound)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_evil_pickle_is_refused_not_run(tmp_path):
    _evil_cifar(tmp_path)
    with pytest.raises(DatasetError, match="refused to unpickle.*getpid"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)


@pytest.mark.parametrize("protocol", ["py2", 2, 4, 5])
def test_cifar_pickle_protocols(protocol, tmp_path):
    expected = write_cifar(tmp_path, protocol=protocol)
    ds = load_dataset("cifar10", data_dir=tmp_path / "cifar-10-batches-py", download=False)
    assert len(ds.train) + len(ds.val) == expected["n_train"]
    assert torch.equal(ds.test.x, torch.from_numpy(expected["x_test"]))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC", "NHW"])
def test_npz_layouts(layout, tmp_path):
    arrays = write_npz(tmp_path / "d.npz", layout=layout)
    ds = load_dataset(f"npz:{tmp_path / 'd.npz'}", val_fraction=0)
    want = arrays["x"] if layout != "NHW" else arrays["x"][:, :1]
    assert torch.equal(ds.train.x, torch.from_numpy(want))


def test_npz_float_images_and_holdout(tmp_path):
    x, y = labelled_images(100, (8, 8))
    np.savez(tmp_path / "f.npz", x=x.astype(np.float32) / 255, y=y)
    a = load_dataset(f"npz:{tmp_path / 'f.npz'}", val_fraction=0, seed=1)
    b = load_dataset(f"npz:{tmp_path / 'f.npz'}", val_fraction=0, seed=2)
    assert len(a.test) == 20 and torch.bincount(a.test.y).tolist() == [2] * 10
    assert torch.equal(a.test.x, b.test.x)  # the test hold-out does not move with the seed
    assert image_ids(a.train.x) | image_ids(a.test.x) == set(range(100))
    assert a.meta["test_from"] == "holdout 20%"


def test_imagefolder_holdout_grey_and_resize(tmp_path):
    write_imagefolder(tmp_path / "g", split=False, per_class=10, rgb=False)
    ds = load_dataset(f"imagefolder:{tmp_path / 'g'}", val_fraction=0)
    assert ds.input_shape == (1, 32, 32) and ds.num_classes == 3
    assert len(ds.test) == 6 and len(ds.train) == 24
    assert ds.meta["classes"] == ["cat", "dog", "eel"]


def test_imagefolder_png_pixels_survive(tmp_path):
    rng = np.random.default_rng(1)
    arrs = {c: rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for c in ("a", "b")}
    for part in ("train", "test"):
        for c, arr in arrs.items():
            write_png(tmp_path / part / c / "0.png", arr)
    ds = load_dataset(f"imagefolder:{tmp_path}", image_size=16)
    assert torch.equal(ds.test.x[1], torch.from_numpy(arrs["b"]).permute(2, 0, 1))


def test_image_size_resizes_idx(tmp_path):
    write_mnist(tmp_path)
    ds = load_dataset("mnist", data_dir=tmp_path, download=False, image_size=32)
    assert ds.input_shape == (1, 32, 32) and ds.test.x.shape[1:] == (1, 32, 32)


def test_synthetic_is_deterministic_and_separable():
    a, b, c = (load_dataset("synthetic", seed=s) for s in (5, 5, 6))
    assert torch.equal(a.train.x, b.train.x) and not torch.equal(a.train.x, c.train.x)
    assert len(a.train) + len(a.val) == 3000 and len(a.test) == 1000 and a.num_classes == 10
    # a nearest-class-mean classifier already separates the classes
    xs = a.train.x.flatten(1).float()
    means = torch.stack([xs[a.train.y == k].mean(0) for k in range(10)])
    pred = torch.cdist(a.test.x.flatten(1).float(), means).argmin(1)
    assert (pred == a.test.y).float().mean() > 0.9


def test_unknown_name_lists_valid_ones():
    with pytest.raises(DatasetError, match="'nope'.*fashion-mnist.*imagefolder:PATH"):
        load_dataset("nope")


def test_aliases_and_path_rules(tmp_path):
    write_cifar(tmp_path)
    assert load_dataset("CIFAR-10", data_dir=tmp_path, download=False).name == "cifar10"
    with pytest.raises(DatasetError, match="imagefolder:PATH"):
        load_dataset("imagefolder")
    with pytest.raises(DatasetError, match="takes no path"):
        load_dataset("mnist:/x")


@pytest.mark.parametrize(
    "kwargs, bad",
    [
        ({"val_fraction": 1.0}, "val_fraction=1.0"),
        ({"val_fraction": -0.1}, "val_fraction=-0.1"),
        ({"subset": 0}, "subset=0"),
        ({"image_size": 2}, "image_size=2"),
        ({"seed": "x"}, "seed='x'"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, bad):
    with pytest.raises(DatasetError, match=bad.replace(".", r"\.")):
        load_dataset("synthetic", **kwargs)


# ---------------------------------------------------------------- augment_batch


def _batch(n=64, c=3, h=12, w=12) -> torch.Tensor:
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(0)) + 1  # no zeros


def test_augment_flip_only_flips():
    x = _batch()
    out = augment_batch(x, padding=0, flip=True, generator=torch.Generator().manual_seed(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    same = (out == x).flatten(1).all(1)
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    assert bool((same | flipped).all()) and 0 < int(flipped.sum()) < len(x)


def test_augment_crop_shifts_content_with_zero_padding():
    x, p = _batch(), 2
    out = augment_batch(x, padding=p, flip=False, generator=torch.Generator().manual_seed(2))
    padded = torch.nn.functional.pad(x, (p, p, p, p))
    shifts = []
    for i in range(len(x)):  # find each image's offset by brute force (test only)
        hits = [
            (dy, dx)
            for dy in range(2 * p + 1)
            for dx in range(2 * p + 1)
            if torch.equal(out[i], padded[i, :, dy : dy + 12, dx : dx + 12])
        ]
        assert hits, f"image {i} is no crop of its padded self"
        shifts.append(hits[0])
    assert len(set(shifts)) > 5 and any(s != (p, p) for s in shifts)
    assert (out == 0).any()  # shifted-in pixels are zero padding


def test_augment_is_deterministic_with_a_generator():
    x = _batch()

    def run(seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return augment_batch(x, padding=3, flip=True, generator=gen)

    assert torch.equal(run(7), run(7)) and not torch.equal(run(7), run(8))


def test_augment_noop_and_bad_input():
    x = _batch()
    assert augment_batch(x, padding=0, flip=False) is x
    with pytest.raises(ValueError, match="N, C, H, W"):
        augment_batch(x[0], padding=2, flip=True)
    with pytest.raises(ValueError, match="padding=-1"):
        augment_batch(x, padding=-1, flip=True)


def test_augment_on_normalised_dataset_batch():
    ds = load_dataset("synthetic").to("cpu")
    out = augment_batch(ds.train.x[:32], padding=2, flip=True)
    assert out.shape == (32, 1, 28, 28) and out.dtype == torch.float32
    assert not torch.equal(out, ds.train.x[:32])
