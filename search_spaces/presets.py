"""Presets: the networks people know, written in the IR with `nas.ir.blocks`.

Each preset reproduces a torchvision classifier exactly (the same layers, parameter count and,
with torchvision's weights copied over, the same outputs; tests/search_spaces/test_presets.py
checks this against torchvision 0.28):

    resnet18, resnet34, resnet50, resnext50_32x4d, wide_resnet50_2, densenet121,
    mobilenet_v2, shufflenet_v2_x1_0

and ``unet``, the classic U-Net for segmentation (a per-pixel output; tested against a
hand-written U-Net). The classifiers come with one of two stems:

- ``imagenet``: torchvision's own (a 7x7 stride-2 conv and a max pool for ResNet, DenseNet and,
  3x3, ShuffleNet; a 3x3 stride-2 conv for MobileNetV2), for 224x224 images;
- ``small``: the CIFAR-style variant for small images: the stem conv becomes 3x3 with stride 1
  and the stem's max pool goes (the reference is torchvision's model with its first conv so
  replaced and its stem pool an `nn.Identity`).

``stem="auto"`` picks ``imagenet`` for images of 128 pixels or more a side, ``small`` below.

    >>> from search_spaces.presets import preset
    >>> arch = preset("resnet18", input_shape=(3, 224, 224))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nas.ir import Arch
from nas.ir.blocks import (
    Builder,
    basic_block,
    bottleneck,
    dense_block,
    inverted_residual,
    shufflenet_v2_unit,
    transition,
)

__all__ = ["PRESETS", "STEMS", "Preset", "preset", "preset_names"]

STEMS = ("imagenet", "small")
#: `stem="auto"` takes the ImageNet stem from this image side up.
IMAGENET_STEM_FROM = 128


@dataclass(frozen=True)
class Preset:
    """A named network: `build(stem, in_channels)` writes it; `reference` names its origin."""

    name: str
    build: Callable[[str, int], Arch]
    reference: str
    #: 'classify' (a classifier) or 'segment' (per-pixel classes, an 'pixels' output)
    task: str = "classify"


def _stem(b: Builder, stem: str, channels: int, width: int, kernel: str, act: str | None = None) -> int:
    """The stem conv: `kernel` with stride 2 for ImageNet, conv3x3 with stride 1 for small images."""
    x = b.stem("image", channels)
    if stem == "imagenet":
        return b.add(kernel, x, width, 1, act=act)
    return b.add("conv3x3", x, width, 0, act=act)


def _stem_pool(b: Builder, stem: str, x: int) -> int:
    """The ImageNet stem's 3x3 stride-2 max pool (none for small images)."""
    return b.add("maxpool3x3", x, b.width(x), b.stage(x) + 1) if stem == "imagenet" else x


def _resnet(
    block: str,
    layers: Sequence[int],
    groups: int = 1,
    width_per_group: int = 64,
    replace_stride_with_dilation: Sequence[bool] = (False, False, False),
) -> Callable[[str, int], Arch]:
    """torchvision's ResNet(block, layers, groups, width_per_group, replace_stride_with_dilation)."""

    def build(stem: str, channels: int) -> Arch:
        b = Builder()
        x = _stem_pool(b, stem, _stem(b, stem, channels, 64, "conv7x7"))
        dilation = 1
        for k, (planes, n) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            stride = 1 if k == 0 else 2
            previous = dilation
            if k and replace_stride_with_dilation[k - 1]:
                dilation *= stride
                stride = 1
            for j in range(n):
                d = previous if j == 0 else dilation
                s = stride if j == 0 else 1
                if block == "basic":
                    x = basic_block(b, x, planes, s, dilation=d)
                else:
                    x = bottleneck(b, x, planes, s, groups=groups, base_width=width_per_group, dilation=d)
        return b.output(x)

    return build


def _densenet(growth: int, blocks: Sequence[int], init: int, bn_size: int = 4) -> Callable[[str, int], Arch]:
    """torchvision's DenseNet(growth_rate, block_config, num_init_features, bn_size)."""

    def build(stem: str, channels: int) -> Arch:
        b = Builder()
        x = _stem_pool(b, stem, _stem(b, stem, channels, init, "conv7x7"))
        width = init
        for k, n in enumerate(blocks):
            features = dense_block(b, x, n, growth, bn_size)
            width += n * growth
            if k != len(blocks) - 1:
                width //= 2
                x = transition(b, features, width)
        norm = b.add("identity", tuple(features), width, merge="concat", act="pre")  # norm5, then ReLU
        return b.output(norm)

    return build


#: MobileNetV2's inverted residual settings: expansion t, width c, repeats n, first stride s.
MOBILENET_V2_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _mobilenet_v2(stem: str, channels: int) -> Arch:
    """torchvision's mobilenet_v2 (width_mult 1.0): the widths need no rounding."""
    b = Builder()
    x = _stem(b, stem, channels, 32, "conv3x3", act="relu6")
    for t, c, n, s in MOBILENET_V2_SETTINGS:
        for j in range(n):
            x = inverted_residual(b, x, c, s if j == 0 else 1, t)
    x = b.add("conv1x1", x, 1280, act="relu6")
    return b.output(x, dropout=0.2)


def _shufflenet_v2(repeats: Sequence[int], widths: Sequence[int]) -> Callable[[str, int], Arch]:
    """torchvision's ShuffleNetV2(stages_repeats, stages_out_channels)."""

    def build(stem: str, channels: int) -> Arch:
        b = Builder()
        x = _stem_pool(b, stem, _stem(b, stem, channels, widths[0], "conv3x3"))
        for n, width in zip(repeats, widths[1:-1], strict=True):
            for j in range(n):
                x = shufflenet_v2_unit(b, x, width, 2 if j == 0 else 1)
        x = b.add("conv1x1", x, widths[-1])
        return b.output(x)

    return build


#: The classic U-Net's widths per level (Ronneberger et al. 2015).
UNET_WIDTHS = (64, 128, 256, 512, 1024)


def _double_conv(b: Builder, x: int | tuple[int, ...], width: int, stage: int | None = None) -> int:
    """Two bias-free 3x3 conv-BN-ReLU (a concat of several inputs first, skip first)."""
    merge = "concat" if isinstance(x, tuple) and len(x) > 1 else None
    a = b.add("conv3x3", x, width, stage, merge=merge)
    return b.add("conv3x3", a, width)


def unet(channels: int, widths: Sequence[int] = UNET_WIDTHS, up: str = "upconv2x2", skips: bool = True) -> Arch:
    """The classic U-Net as most PyTorch users know it (milesial/Pytorch-UNet, bilinear=False):
    at each level two bias-free 3x3 conv-BN-ReLU; a 2x2 max pool down; up, a
    ConvTranspose2d(c, c/2, 2, stride=2) with bias; concat [skip, up-sampled]; a 1x1 output conv
    with bias to the classes.

    `skips=False` is the ablation: the same encoder-decoder without its long skips (each
    decoder level reads the up-sampled path only, so its first conv has fewer input channels)."""
    b = Builder()
    x = b.stem("image", channels)
    encoder = []
    for level, width in enumerate(widths):
        if level:
            x = b.add("maxpool2x2", x, b.width(x), level)
        x = _double_conv(b, x, width)
        encoder.append(x)
    for level in range(len(widths) - 2, -1, -1):
        u = b.add(up, x, widths[level], level)
        x = _double_conv(b, (encoder[level], u) if skips else u, widths[level])
    b.add("pixels", x, b.width(x))
    return Arch(tuple(b.nodes))


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("resnet18", _resnet("basic", (2, 2, 2, 2)), "torchvision.models.resnet18"),
        Preset("resnet34", _resnet("basic", (3, 4, 6, 3)), "torchvision.models.resnet34"),
        Preset("resnet50", _resnet("bottleneck", (3, 4, 6, 3)), "torchvision.models.resnet50"),
        Preset(
            "resnext50_32x4d",
            _resnet("bottleneck", (3, 4, 6, 3), groups=32, width_per_group=4),
            "torchvision.models.resnext50_32x4d",
        ),
        Preset(
            "wide_resnet50_2",
            _resnet("bottleneck", (3, 4, 6, 3), width_per_group=128),
            "torchvision.models.wide_resnet50_2",
        ),
        Preset("densenet121", _densenet(32, (6, 12, 24, 16), 64), "torchvision.models.densenet121"),
        Preset("mobilenet_v2", _mobilenet_v2, "torchvision.models.mobilenet_v2"),
        Preset(
            "shufflenet_v2_x1_0",
            _shufflenet_v2((4, 8, 4), (24, 116, 232, 464, 1024)),
            "torchvision.models.shufflenet_v2_x1_0",
        ),
        Preset(
            "unet", lambda stem, channels: unet(channels), "Ronneberger et al. 2015 (milesial/Pytorch-UNet)", "segment"
        ),
    )
}


def preset_names() -> list[str]:
    return sorted(PRESETS)


def preset(name: str, input_shape: Sequence[int] = (3, 224, 224), stem: str = "auto") -> Arch:
    """The architecture of preset `name` for images of `input_shape` (C, H, W).

    Raises:
        KeyError: unknown name (the message lists the presets).
        ValueError: unknown stem.
    """
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; presets: {', '.join(preset_names())}")
    if stem == "auto":
        stem = "imagenet" if min(input_shape[1:]) >= IMAGENET_STEM_FROM else "small"
    if stem not in STEMS:
        raise ValueError(f"unknown stem {stem!r}; stems: auto, {', '.join(STEMS)}")
    return PRESETS[name].build(stem, int(input_shape[0]))
