"""A hand-written ResNet (basic blocks, projection shortcuts) and its skipdag encoding.

The benchmarks compare the compiled graph against this independent implementation.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from nas.ir import Arch, Node


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.short(x))


class ResNet(nn.Module):
    """Stem conv3x3 (stride 1: small images), stages of basic blocks, pool, linear."""

    def __init__(self, cin: int, widths, blocks, classes: int):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(cin, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)
        )
        layers, prev = [], widths[0]
        for s, (w, b) in enumerate(zip(widths, blocks, strict=False)):
            for k in range(b):
                layers.append(BasicBlock(prev, w, 2 if (s > 0 and k == 0) else 1))
                prev = w
        self.layers = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(prev, classes))

    def forward(self, x):
        return self.head(self.layers(self.stem(x)))


def resnet_arch(widths, blocks) -> Arch:
    """The same network as a skipdag graph: conv3x3, conv3x3, add with the block input."""
    nodes = [Node("input", (), None, 0, widths[0])]
    prev = 0
    for s, (w, b) in enumerate(zip(widths, blocks, strict=False)):
        for _ in range(b):
            nodes.append(Node("conv3x3", (prev,), None, s, w))
            nodes.append(Node("conv3x3", (len(nodes) - 1,), None, s, w))
            nodes.append(Node("identity", (len(nodes) - 1, prev), "add", s, w))
            prev = len(nodes) - 1
    nodes.append(Node("output", (prev,), None, len(widths) - 1, widths[-1]))
    return Arch(tuple(nodes))
