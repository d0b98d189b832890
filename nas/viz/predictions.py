"""A picture of a dense model's predictions: input, true mask and predicted mask side by side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: mask colours by class id: background black, then matplotlib's tab20 (cycled)
BACKGROUND = "#000000"


def class_colours(n: int) -> list[str]:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    tab = colormaps["tab20"]
    return [BACKGROUND] + [to_hex(tab(i % 20)) for i in range(n - 1)]


def draw_predictions(
    images: Any,
    truth: Any,
    predicted: Any,
    classes: Sequence[str],
    path: str,
    *,
    title: str = "",
    fmt: str | None = None,
    dpi: float = 150,
) -> str:
    """Write one row per image (input, true mask, predicted mask) with a legend of the classes.

    images: uint8 (N, C, H, W); truth, predicted: (N, H, W) class ids (tensors or arrays).
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    images, truth, predicted = (np.asarray(a) for a in (images, truth, predicted))
    n, k = len(images), len(classes)
    colours = class_colours(k)
    cmap, norm = ListedColormap(colours), BoundaryNorm(np.arange(k + 1) - 0.5, k)
    height = 2.4 * n + 0.9
    fig = Figure(figsize=(7.5, height))
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 3, squeeze=False)
    for i in range(n):
        img = images[i].transpose(1, 2, 0)
        axes[i][0].imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=255)
        axes[i][1].imshow(truth[i], cmap=cmap, norm=norm, interpolation="nearest")
        axes[i][2].imshow(predicted[i], cmap=cmap, norm=norm, interpolation="nearest")
        right = float((truth[i] == predicted[i]).mean())
        axes[i][2].set_title(f"predicted ({right:.0%} of pixels right)", fontsize=8)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0][0].set_title("input", fontsize=9)
    axes[0][1].set_title("true mask", fontsize=9)
    shown = sorted(set(np.unique(truth).tolist()) | set(np.unique(predicted).tolist()))
    handles = [Patch(facecolor=colours[c], edgecolor="#888888", label=str(classes[c])) for c in shown]
    fig.legend(handles=handles, loc="lower center", ncol=min(4, len(handles)), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.45 / height, 1, 1 - 0.3 / height))
    fig.savefig(path, format=fmt or path.rsplit(".", 1)[-1].lower(), dpi=dpi)
    return path
