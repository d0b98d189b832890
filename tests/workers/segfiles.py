"""Small segmentation files for the tests: imagefolder-seg pairs written as real PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_png(path: Path, arr: np.ndarray, mode: str | None = None) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode=mode).save(path) if mode else Image.fromarray(arr).save(path)


def write_seg_folder(
    root: Path, n: int = 12, size: tuple[int, int] = (20, 24), classes: int = 3, rgb: bool = True, split: bool = False
) -> dict:
    """`root/images/*.png` and `root/masks/*.png` (or under train/ and test/): random images, and
    masks of ids 0..classes-1 (a rectangle of one class on background); returns the masks by name."""
    rng = np.random.default_rng(0)
    masks = {}
    parts = {"train": n, "test": max(2, n // 3)} if split else {"": n}
    for part, count in parts.items():
        for i in range(count):
            h, w = size
            image = rng.integers(0, 256, size=(h, w, 3) if rgb else (h, w), dtype=np.uint8)
            mask = np.zeros((h, w), dtype=np.uint8)
            r, c = rng.integers(0, h // 2), rng.integers(0, w // 2)
            mask[r : r + h // 2, c : c + w // 2] = 1 + i % (classes - 1)
            name = f"{i:03d}.png"
            write_png(root / part / "images" / name, image)
            write_png(root / part / "masks" / name, mask)
            masks[f"{part}/{name}"] = mask
    (root / "classes.txt").write_text("\n".join(["background", *(f"c{k}" for k in range(1, classes))]) + "\n")
    return masks
