"""The `unet` preset equals a hand-written U-Net (milesial/Pytorch-UNet, bilinear=False, in plain
torch below): the same parameter count (31,037,698 at 3 channels and 2 classes) and, with the
weights copied over in state_dict order, the same outputs within 1e-5 in eval and train mode, for
the compiled module and for the exported source (`nas.ir.to_source`)."""

from __future__ import annotations

import importlib.util

import torch
import torch.nn.functional as F
from torch import nn

from nas.ir import build, cost, to_source
from search_spaces.presets import preset
from tests.oracles.weights import copy_weights, max_abs_diff

TOL = 1e-5
SHAPE = (3, 64, 64)
CLASSES = 2
PARAMS = 31_037_698


class DoubleConv(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.double_conv(x)


class Down(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(cin, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool_conv(x)


class Up(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cin // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(cin, cout)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x1 = self.up(x1)
        dy, dx = x2.size(2) - x1.size(2), x2.size(3) - x1.size(3)
        x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([x2, x1], dim=1))  # [skip, up-sampled]


class UNet(nn.Module):
    """milesial/Pytorch-UNet's UNet(n_channels, n_classes, bilinear=False)."""

    def __init__(self, n_channels: int, n_classes: int) -> None:
        super().__init__()
        self.inc = DoubleConv(n_channels, 64)
        self.down1 = Down(64, 128)
        self.down2 = Down(128, 256)
        self.down3 = Down(256, 512)
        self.down4 = Down(512, 1024)
        self.up1 = Up(1024, 512)
        self.up2 = Up(512, 256)
        self.up3 = Up(256, 128)
        self.up4 = Up(128, 64)
        self.outc = nn.Conv2d(64, n_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


def _load_source(source: str, tmp_path) -> nn.Module:
    path = tmp_path / "model.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("exported_unet", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Net()


def test_unet_preset_equals_a_hand_written_unet(tmp_path):
    arch = preset("unet", SHAPE)
    assert arch.dense
    torch.manual_seed(1)
    reference = UNet(SHAPE[0], CLASSES)
    assert sum(p.numel() for p in reference.parameters()) == PARAMS
    assert cost(arch, SHAPE, CLASSES).params == PARAMS
    x = torch.randn(1, *SHAPE, generator=torch.Generator().manual_seed(0))
    compiled = build(arch, SHAPE, CLASSES)
    exported = _load_source(to_source(arch, SHAPE, CLASSES), tmp_path)
    for model in (compiled, exported):
        assert sum(p.numel() for p in model.parameters()) == PARAMS
        copy_weights(reference, model)
        for train in (False, True):
            diff = max_abs_diff(reference, model, x, train=train)
            assert diff <= TOL, f"{'train' if train else 'eval'} mode: max |difference| {diff:.3g}"
    with torch.no_grad():
        assert compiled.eval()(x).shape == (1, CLASSES, *SHAPE[1:])
