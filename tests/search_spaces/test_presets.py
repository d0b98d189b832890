"""Presets equal torchvision's networks: the same parameter count and, with torchvision's weights
copied over, the same outputs (within 1e-5, eval and train mode), for the compiled module and
for the exported model.py, with the ImageNet stem and with the small-image stem.

The oracle is torchvision 0.28 itself (test-only; tests/oracles/torchvision_models.py says how
it is imported next to the CPU build of torch).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
import torch
from torch import nn

from nas.ir import build, cost, to_source
from search_spaces.presets import PRESETS, preset
from tests.oracles.torchvision_models import torchvision_models
from tests.oracles.weights import copy_weights, max_abs_diff

TOL = 1e-5
#: The classifiers: torchvision's networks (the U-Net has its own test, test_unet_preset.py).
CLASSIFIERS = sorted(name for name, p in PRESETS.items() if p.task == "classify")


def _small_stem(name: str, model: nn.Module) -> nn.Module:
    """torchvision's network with the CIFAR-style stem: first conv 3x3 stride 1, no stem pool."""
    conv = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    if name.startswith(("resnet", "resnext", "wide_resnet")):
        model.conv1, model.maxpool = conv, nn.Identity()
    elif name.startswith("densenet"):
        model.features.conv0, model.features.pool0 = conv, nn.Identity()
    elif name.startswith("mobilenet"):
        model.features[0][0] = nn.Conv2d(3, 32, 3, 1, 1, bias=False)
    elif name.startswith("shufflenet"):
        model.conv1[0], model.maxpool = nn.Conv2d(3, 24, 3, 1, 1, bias=False), nn.Identity()
    else:
        raise AssertionError(f"no small stem for {name}")
    return model


def _reference(name: str, stem: str, classes: int) -> nn.Module:
    torch.manual_seed(1)
    model = getattr(torchvision_models(), name)(weights=None, num_classes=classes)
    return _small_stem(name, model) if stem == "small" else model


def _load_source(source: str, tmp_path) -> nn.Module:
    """Import model.py as `nas export` writes it (the compiler's source, which imports only torch)."""
    path = tmp_path / "model.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("exported_model", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Net()


CASES = [(name, "small", (3, 32, 32), 10) for name in CLASSIFIERS] + [
    pytest.param(name, "imagenet", (3, 224, 224), 1000, marks=pytest.mark.slow) for name in CLASSIFIERS
]


@pytest.mark.parametrize("name, stem, shape, classes", CASES)
def test_preset_equals_torchvision(name, stem, shape, classes, tmp_path):
    arch = preset(name, shape, stem)
    reference = _reference(name, stem, classes)
    expected = sum(p.numel() for p in reference.parameters())
    ours = build(arch, shape, classes)
    exported = _load_source(to_source(arch, shape, classes), tmp_path)
    assert cost(arch, shape, classes).params == expected
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
    for model in (ours, exported):
        assert sum(p.numel() for p in model.parameters()) == expected
        copy_weights(reference, model)
        for train in (False, True):
            diff = max_abs_diff(reference, model, x, train=train)
            assert diff <= TOL, f"{name} ({stem} stem, {'train' if train else 'eval'} mode): outputs differ by {diff}"


def test_known_parameter_counts_at_imagenet_size():
    """torchvision's published sizes (its weights' metadata), without building any module."""
    published = {
        "resnet18": 11_689_512,
        "resnet34": 21_797_672,
        "resnet50": 25_557_032,
        "resnext50_32x4d": 25_028_904,
        "wide_resnet50_2": 68_883_240,
        "densenet121": 7_978_856,
        "mobilenet_v2": 3_504_872,
        "shufflenet_v2_x1_0": 2_278_604,
    }
    assert sorted(published) == CLASSIFIERS
    for name, params in published.items():
        assert cost(preset(name, (3, 224, 224)), (3, 224, 224), 1000).params == params, name


@pytest.mark.slow
def test_dilated_resnet50_equals_torchvision():
    """replace_stride_with_dilation=[False, True, True] (DeepLab's output stride 8)."""
    from search_spaces.presets import _resnet

    arch = _resnet("bottleneck", (3, 4, 6, 3), replace_stride_with_dilation=(False, True, True))("imagenet", 3)
    torch.manual_seed(1)
    reference = torchvision_models().resnet50(weights=None, replace_stride_with_dilation=[False, True, True])
    model = build(arch, (3, 96, 96), 1000)
    copy_weights(reference, model)
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    for train in (False, True):
        assert max_abs_diff(reference, model, x, train=train) <= TOL


def test_nas_sample_preset_writes_the_preset(tmp_path):
    out = tmp_path / "r18.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "nas",
            "sample",
            "--preset",
            "resnet18",
            "--input-shape",
            "3,224,224",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    from nas.ir import Arch

    assert Arch.from_json(out.read_text()) == preset("resnet18", (3, 224, 224))
    assert "11,181,642 params" in run.stderr  # 1000 -> 10 classes: 11,689,512 - 512,500 + 5,130
    bad = subprocess.run(
        [sys.executable, "-m", "nas", "sample", "--preset", "resnet19"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2 and "resnet19" in bad.stderr and "resnet18" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
