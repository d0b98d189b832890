"""`imagefolder:PATH`: one sub-folder of images per class, read with Pillow and resized square.

Layout: `PATH/train/<class>/*` and `PATH/test/<class>/*` (a `val/` folder stands in for a
missing `test/`), or just `PATH/<class>/*`, in which case a stratified 20% is held out as the
test split with a fixed seed (the test split never moves with the search seed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ._errors import DatasetError, DatasetNotFound
from ._registry import LoadRequest, RawData, register
from ._split import holdout

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
DEFAULT_SIZE = 32
TEST_FRACTION = 0.2


def _pillow():
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise DatasetError("imagefolder datasets need Pillow: pip install pillow") from None
    return Image, UnidentifiedImageError


def _images(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS and not p.name.startswith(".")
    )


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def _read(files: list[tuple[Path, int]], size: int, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode, convert to `mode` ("L" or "RGB") and resize; x (N, C, size, size) uint8."""
    Image, Unidentified = _pillow()
    channels = 1 if mode == "L" else 3
    x = np.empty((len(files), size, size, channels), dtype=np.uint8)
    for i, (path, _) in enumerate(files):
        try:
            with Image.open(path) as im:
                im = im.convert(mode)
                if im.size != (size, size):
                    im = im.resize((size, size), Image.BILINEAR)
                x[i] = np.asarray(im).reshape(size, size, channels)
        except (OSError, Unidentified, ValueError, SyntaxError) as e:
            raise DatasetError(f"{path}: cannot decode image ({e}); remove or replace the file") from None
    y = torch.tensor([label for _, label in files], dtype=torch.long)
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), y


def _mode(files: list[tuple[Path, int]]) -> str:
    """ "L" if every image is grey (from the headers only), else "RGB"."""
    Image, Unidentified = _pillow()
    for path, _ in files:
        try:
            with Image.open(path) as im:
                if im.mode not in GREY_MODES:
                    return "RGB"
        except (OSError, Unidentified, ValueError, SyntaxError) as e:
            raise DatasetError(f"{path}: cannot open image ({e}); remove or replace the file") from None
    return "L"


def _listing(folder: Path, classes: list[str]) -> list[tuple[Path, int]]:
    files = []
    for d in _class_dirs(folder):
        if d.name not in classes:
            raise DatasetError(
                f"{d}: class {d.name!r} is not among the training classes {classes}; give every class a training folder"
            )
        imgs = _images(d)
        if not imgs:
            exts = ", ".join(sorted(EXTENSIONS))
            raise DatasetError(f"{d}: class folder holds no images ({exts}); add some or remove it")
        files += [(p, classes.index(d.name)) for p in imgs]
    return files


def _layout(req: LoadRequest) -> tuple[Path, Path, Path | None, list[str]]:
    """(root, training folder, test folder or None, class names by label) of `imagefolder:PATH`."""
    root = Path(req.path or "").expanduser()
    if not root.is_dir():
        raise DatasetNotFound(
            f"imagefolder: {root} is not a folder; pass imagefolder:PATH where PATH holds one "
            "sub-folder of images per class"
        )
    train_dir = root / "train" if (root / "train").is_dir() else root
    test_dir = next((root / d for d in ("test", "val") if (root / d).is_dir()), None)
    if train_dir is root:
        test_dir = None
    classes = [d.name for d in _class_dirs(train_dir)]
    if len(classes) < 2:
        raise DatasetError(
            f"imagefolder: {train_dir} has {len(classes)} class folder(s); it needs one "
            "sub-folder per class and at least two classes"
        )
    return root, train_dir, test_dir, classes


def imagefolder_classes(req: LoadRequest) -> list[str]:
    """The class names (training sub-folder names, sorted: label order) without reading images."""
    return _layout(req)[3]


@register("imagefolder", takes_path=True, flip=True, crop_padding=None, list_classes=imagefolder_classes)
def load_imagefolder(req: LoadRequest) -> RawData:
    """Any images, one sub-folder per class (train/ and test/ if present), resized square."""
    root, train_dir, test_dir, classes = _layout(req)
    train_files = _listing(train_dir, classes)
    test_files = _listing(test_dir, classes) if test_dir is not None else []
    _pillow()
    size = req.image_size or DEFAULT_SIZE
    mode = _mode(train_files + test_files)
    x, y = _read(train_files, size, mode)
    if test_dir is not None:
        xs, ys = _read(test_files, size, mode)
    else:
        x, y, xs, ys = holdout(x, y, TEST_FRACTION)
    meta = {"source": str(root), "classes": classes, "test_from": str(test_dir or "holdout 20%")}
    return RawData(x, y, xs, ys, len(classes), meta)
