"""`npz:PATH`: a numpy archive with arrays `x`, `y` and optionally `x_test`, `y_test`.

`x` may be (N, H, W), (N, C, H, W) or (N, H, W, C) with C in {1, 3, 4} (a size-1/3/4 axis 1
is read as channels first); uint8, or floats in [0, 1] or [0, 255]. Without a test pair a
stratified 20% of `x` is held out as the test split with a fixed seed. Loaded with
`allow_pickle=False`: an archive cannot run code.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from ._errors import DatasetError, DatasetNotFound
from ._registry import LoadRequest, RawData, register
from ._split import holdout

TEST_FRACTION = 0.2
CHANNELS = (1, 3, 4)


def _images(x: np.ndarray, where: str) -> torch.Tensor:
    """Images of any accepted layout and dtype as uint8 (N, C, H, W)."""
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[1] not in CHANNELS and x.shape[3] in CHANNELS:
        x = x.transpose(0, 3, 1, 2)
    elif x.ndim != 4 or x.shape[1] not in CHANNELS:
        raise DatasetError(
            f"{where}: shape {list(x.shape)} is not (N,H,W), (N,C,H,W) or (N,H,W,C) with C in "
            f"{CHANNELS}; reshape the array"
        )
    if x.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(x))
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DatasetError(f"{where}: dtype {x.dtype} is not numeric; store uint8 or float images")
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if lo < 0 or hi > 255 or not np.isfinite(hi):
        raise DatasetError(f"{where}: values span [{lo}, {hi}]; store images in [0, 1] or [0, 255]")
    scale = 255.0 if np.issubdtype(x.dtype, np.floating) and hi <= 1.0 else 1.0
    return torch.from_numpy(np.rint(x.astype(np.float64) * scale).astype(np.uint8))


def _labels(y: np.ndarray, n: int, where: str) -> torch.Tensor:
    y = y.reshape(-1) if y.ndim == 2 and 1 in y.shape else y
    ok_type = np.issubdtype(y.dtype, np.integer) or (np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0))
    if y.ndim != 1 or not ok_type:
        raise DatasetError(
            f"{where}: labels must be a 1-d integer array, got {y.dtype}{list(y.shape)}; store class indices 0..K-1"
        )
    if len(y) != n:
        raise DatasetError(f"{where}: {len(y)} labels for {n} images; store one label per image")
    if len(y) and y.min() < 0:
        raise DatasetError(f"{where}: negative label {int(y.min())}; store class indices 0..K-1")
    return torch.from_numpy(y.astype(np.int64))


@register("npz", takes_path=True, flip=True, crop_padding=None)
def load_npz(req: LoadRequest) -> RawData:
    """A numpy .npz archive with x, y (and optionally x_test, y_test)."""
    path = Path(req.path or "").expanduser()
    if not path.is_file():
        raise DatasetNotFound(
            f"npz: {path} is not a file; pass npz:PATH to an .npz with arrays x and y "
            "(np.savez(PATH, x=images, y=labels))"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            if not isinstance(f, np.lib.npyio.NpzFile):
                raise DatasetError(f"{path}: is a single .npy array; save x and y with np.savez")
            missing = {"x", "y"} - set(f.files)
            if missing:
                raise DatasetError(
                    f"{path}: has arrays {sorted(f.files)} but lacks {sorted(missing)}; "
                    "save with np.savez(PATH, x=images, y=labels)"
                )
            arrays = {k: f[k] for k in ("x", "y", "x_test", "y_test") if k in f.files}
    except DatasetError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as e:
        raise DatasetError(
            f"{path}: not a readable .npz archive ({type(e).__name__}: {e}); write it again with np.savez"
        ) from None
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DatasetError(f"{path}: has only one of x_test/y_test; store both or neither")
    x = _images(arrays["x"], f"{path}[x]")
    y = _labels(arrays["y"], len(x), f"{path}[y]")
    if "x_test" in arrays:
        xs = _images(arrays["x_test"], f"{path}[x_test]")
        ys = _labels(arrays["y_test"], len(xs), f"{path}[y_test]")
        if xs.shape[1:] != x.shape[1:]:
            raise DatasetError(
                f"{path}: x_test images are {list(xs.shape[1:])}, x images {list(x.shape[1:])}; store both in one shape"
            )
        test_from = "x_test"
    else:
        x, y, xs, ys = holdout(x, y, TEST_FRACTION)
        test_from = "holdout 20%"
    k = int(max(int(y.max()) if len(y) else 0, int(ys.max()) if len(ys) else 0)) + 1
    return RawData(x, y, xs, ys, k, {"source": str(path), "test_from": test_from})
