"""The compiler: `Arch` -> Python source of a plain `nn.Module` -> module.

`to_source` emits a standalone file (imports only torch) whose `forward` is straight-line
code; `build` executes that same source, so the trained module is exactly the exported one.
`cost` counts parameters and multiply-accumulates from the same plan, without torch.

Layer recipes (conv ops are conv-BN-ReLU, no conv bias):
    stem           conv3x3(C_in -> w) BN ReLU
    conv/pointwise convKxK(stride s) BN ReLU
    grouped        grouped convKxK BN ReLU        (+ ChannelShuffle for 'shuffle')
    sepconv        depthwise KxK BN ReLU, 1x1 BN ReLU
    pools          3x3 pool (stride s, pad 1), then a projection if the width changes
    identity       nothing, or a projection where width/resolution change
    projection     conv1x1(stride f) BN           (ResNet shortcut; also add-merge alignment)
    concat align   avg_pool2d(f, f, ceil_mode)    (downsample only; widths stack)
    head           adaptive avg pool, flatten, linear
"""

from __future__ import annotations

import linecache
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nas.ir.arch import Arch
from nas.ir.ops import parse_op

# The classifier: `self.head = Sequential(AdaptiveAvgPool2d, Flatten, Linear)`. Its Linear's weight,
# (num_classes, width), is how a state dict tells its number of classes.
HEAD = "head"
CLASSIFIER_WEIGHT = f"{HEAD}.2.weight"

if TYPE_CHECKING:
    from torch import nn

Shape = tuple[int, int, int]


@dataclass(frozen=True)
class Cost:
    """Trainable parameters and multiply-accumulates (MACs, reported as FLOPs as NAS papers do)."""

    params: int
    flops: int


@dataclass
class _Plan:
    inits: list[str] = field(default_factory=list)  # lines of __init__
    body: list[str] = field(default_factory=list)  # lines of forward
    params: int = 0
    flops: int = 0

    # Each helper returns the code of one layer and counts its cost at output size hw.
    def conv(self, cin: int, cout: int, k: int, stride: int, groups: int, hw: int) -> str:
        self.params += cin // groups * cout * k * k
        self.flops += hw * cin // groups * cout * k * k
        g = f", groups={groups}" if groups > 1 else ""
        return f"nn.Conv2d({cin}, {cout}, {k}, stride={stride}, padding={k // 2}{g}, bias=False)"

    def bn(self, c: int) -> str:
        self.params += 2 * c
        return f"nn.BatchNorm2d({c})"


def _halve(n: int, times: int) -> int:
    for _ in range(times):
        n = -(-n // 2)  # every stride-2 layer here rounds up
    return n


def _layers(plan: _Plan, arch: Arch, i: int, cin: int, stride: int, hw: int) -> list[str]:
    """The layers of node i's op (after its merge), or [] for a pass-through."""
    node = arch.nodes[i]
    spec = parse_op(node.op)
    relu = "nn.ReLU(inplace=True)"
    k, cout = spec.kernel, node.width
    if spec.kind in ("conv", "pointwise", "grouped", "shuffle"):
        layers = [plan.conv(cin, cout, k, stride, spec.groups, hw), plan.bn(cout), relu]
        if spec.kind == "shuffle":
            layers.append(f"ChannelShuffle({spec.groups})")
        return layers
    if spec.kind == "sepconv":
        return [
            plan.conv(cin, cin, k, stride, cin, hw),
            plan.bn(cin),
            relu,
            plan.conv(cin, cout, 1, 1, 1, hw),
            plan.bn(cout),
            relu,
        ]
    layers = []
    if spec.kind in ("maxpool", "avgpool"):
        cls = "nn.MaxPool2d" if spec.kind == "maxpool" else "nn.AvgPool2d"
        extra = "" if spec.kind == "maxpool" else ", count_include_pad=False"
        layers.append(f"{cls}(3, stride={stride}, padding=1{extra})")
        stride = 1
    if stride > 1 or cin != cout:  # identity/pool/output that changes shape: project
        layers += [plan.conv(cin, cout, 1, stride, 1, hw), plan.bn(cout)]
    return layers


def _seq(layers: list[str]) -> str:
    return layers[0] if len(layers) == 1 else "nn.Sequential(" + ", ".join(layers) + ")"


def _plan(arch: Arch, input_shape: Shape, num_classes: int) -> _Plan:
    c_in, h, w = input_shape
    plan = _Plan()
    order = arch.topological_order()
    last_use = {j: i for i in order for j in arch.nodes[i].inputs}
    for i in order:
        node = arch.nodes[i]
        spec = parse_op(node.op)
        hw = _halve(h, node.stage) * _halve(w, node.stage)
        if spec.kind == "input":
            layers = [plan.conv(c_in, node.width, 3, 1, 1, hw), plan.bn(node.width), "nn.ReLU(inplace=True)"]
            plan.inits.append(f"self.n{i} = {_seq(layers)}")
            plan.body.append(f"x{i} = self.n{i}(x)")
            continue
        ms = arch.merge_stage(i)
        m_hw = _halve(h, ms) * _halve(w, ms)
        terms = []
        for p, j in enumerate(node.inputs):
            src = arch.nodes[j]
            f = 2 ** (ms - src.stage)
            if len(node.inputs) > 1 and node.merge == "add" and (f > 1 or src.width != node.width):
                proj = [plan.conv(src.width, node.width, 1, f, 1, m_hw), plan.bn(node.width)]
                plan.inits.append(f"self.n{i}_p{p} = {_seq(proj)}")
                terms.append(f"self.n{i}_p{p}(x{j})")
            elif f > 1:  # concat: average-pool finer inputs down to the merge resolution
                terms.append(f"F.avg_pool2d(x{j}, {f}, {f}, ceil_mode=True)")
            else:
                terms.append(f"x{j}")
        if len(terms) == 1:
            merged = terms[0]
        elif node.merge == "add":
            merged = " + ".join(terms)
        else:
            merged = "torch.cat([" + ", ".join(terms) + "], dim=1)"
        layers = _layers(plan, arch, i, arch.in_width(i), 2 ** (node.stage - ms), hw)
        if layers:
            plan.inits.append(f"self.n{i} = {_seq(layers)}")
            plan.body.append(f"x{i} = self.n{i}({merged})")
        else:
            plan.body.append(f"x{i} = {merged}")
        dead = [j for j in node.inputs if last_use[j] == i]
        if dead:  # free activations as soon as nothing reads them (long skips hold memory)
            plan.body.append("del " + ", ".join(f"x{j}" for j in sorted(dead)))
    out = arch.output_index
    width = arch.nodes[out].width
    plan.params += width * num_classes + num_classes
    plan.flops += width * num_classes
    plan.inits.append(
        f"self.{HEAD} = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear({width}, {num_classes}))"
    )
    plan.body.append(f"return self.{HEAD}(x{out})")
    return plan


_PRELUDE = '''import torch
import torch.nn as nn
import torch.nn.functional as F


class ChannelShuffle(nn.Module):
    """ShuffleNet channel shuffle: (N, g*c, H, W) -> interleave the g groups."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.shape
        return x.reshape(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)
'''


def _check(input_shape: Sequence[int], num_classes: int) -> tuple[Shape, int]:
    if len(tuple(input_shape)) != 3 or not all(isinstance(v, int) and v > 0 for v in input_shape):
        raise ValueError(f"input_shape must be (C, H, W) positive integers, got {input_shape!r}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    c, h, w = input_shape
    return (c, h, w), num_classes


def to_source(
    arch: Arch,
    input_shape: Shape = (1, 28, 28),
    num_classes: int = 10,
    *,
    class_name: str = "Net",
    docstring: str | None = None,
) -> str:
    """Python source of a standalone module (imports only torch) defining `class_name`."""
    input_shape, num_classes = _check(input_shape, num_classes)
    plan = _plan(arch, input_shape, num_classes)
    doc = docstring or (
        f"skipdag network {arch.hash()[:12]} for inputs {input_shape}, {num_classes} classes.\n\n"
        f"Parameters: {plan.params:,}; multiply-accumulates per image: {plan.flops:,}."
    )
    doc_lines = doc.replace('"""', "'''").splitlines()
    quoted = "\n".join(("    " + ln) if ln else "" for ln in doc_lines)
    init = "\n".join("        " + ln for ln in plan.inits)
    body = "\n".join("        " + ln for ln in plan.body)
    header = '"""' + "\n".join(doc_lines) + '\n"""'
    return (
        f"{header}\n{_PRELUDE}\n\nclass {class_name}(nn.Module):\n"
        f'    """\n{quoted}\n    """\n\n'
        f"    def __init__(self):\n        super().__init__()\n{init}\n\n"
        f"    def forward(self, x):\n{body}\n"
    )


def build(arch: Arch, input_shape: Shape = (1, 28, 28), num_classes: int = 10) -> nn.Module:
    """Compile `arch` to an `nn.Module` by executing `to_source`'s output."""
    source = to_source(arch, input_shape, num_classes)
    filename = f"<nas-{arch.hash()[:12]}>"
    # register the source so tracebacks through forward show real lines
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": "nas_compiled"}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own generated code
    model: nn.Module = namespace["Net"]()
    setattr(model, "nas_source", source)  # noqa: B010 - nn.Module types its attributes as Tensor | Module
    return model


def cost(arch: Arch, input_shape: Shape = (1, 28, 28), num_classes: int = 10) -> Cost:
    """Parameters and MACs of `arch` for one image, counted from the plan (no torch)."""
    input_shape, num_classes = _check(input_shape, num_classes)
    plan = _plan(arch, input_shape, num_classes)
    return Cost(plan.params, plan.flops)
