"""`synthetic`: class-separable images generated on the fly, for tests and smoke runs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._registry import LoadRequest, RawData, register

NUM_CLASSES = 10
TRAIN_PER_CLASS = 300
TEST_PER_CLASS = 100
DEFAULT_SIZE = 28


def make_synthetic(
    seed: int = 0,
    *,
    size: int = DEFAULT_SIZE,
    num_classes: int = NUM_CLASSES,
    train_per_class: int = TRAIN_PER_CLASS,
    test_per_class: int = TEST_PER_CLASS,
) -> RawData:
    """Grey images: a smooth random template per class, scaled by a random contrast, plus noise.

    Deterministic in `seed`; a linear model separates the classes, a small CNN in an epoch.
    """
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(num_classes, 1, 7, 7, generator=g)
    templates = F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    templates = templates / templates.flatten(1).std(dim=1).view(-1, 1, 1, 1)

    def draw(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = per_class * num_classes
        y = torch.arange(num_classes).repeat_interleave(per_class)
        y = y[torch.randperm(n, generator=g)]
        contrast = 0.6 + 0.8 * torch.rand(n, 1, 1, 1, generator=g)
        noise = torch.randn(n, 1, size, size, generator=g)
        x = 128 + 50 * contrast * templates[y] + 20 * noise
        return x.round().clamp(0, 255).to(torch.uint8), y

    x, y = draw(train_per_class)
    xs, ys = draw(test_per_class)
    meta = {"source": "generated", "classes": [str(i) for i in range(num_classes)]}
    return RawData(x, y, xs, ys, num_classes, meta)


# classes are fixed; the statistics depend on the seed, so they are not registered
@register(
    "synthetic",
    augment=False,
    flip=False,
    crop_padding=0,
    classes=tuple(str(i) for i in range(NUM_CLASSES)),
)
def load_synthetic(req: LoadRequest) -> RawData:
    """Generated: 3000 + 1000 grey 28x28 images of 10 classes (data_dir ignored)."""
    return make_synthetic(req.seed, size=req.image_size or DEFAULT_SIZE)
