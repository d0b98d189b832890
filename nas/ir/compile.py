"""The compiler: `Arch` -> Python source of a plain `nn.Module` -> module.

`to_source` emits a standalone file (imports only torch) whose `forward` is straight-line
code; `build` executes that same source, so the trained module is exactly the exported one.
`cost` counts parameters and multiply-accumulates from the same plan, without torch.

Layer recipes (no conv bias; `act` places the activation, see `nas.ir.ops.ACTS`):
    input stem     conv3x3(C_in -> w) BN ReLU
    image stem     the image itself
    conv-like      'post': conv BN ReLU, 'relu6': conv BN ReLU6, 'linear': conv BN,
                   'pre': BN ReLU conv; conv is KxK (stride s, dilation d, padding d*(k//2)),
                   grouped for gconv/shuffle (+ ChannelShuffle), depthwise for dwconv
    sepconv        depthwise KxK BN ReLU, 1x1 BN ReLU ('pre': BN ReLU dw BN ReLU 1x1)
    pools          3x3 (pad 1) or 2x2 (ceil) pool, stride s, then a projection if the width changes
    chshuffle      ChannelShuffle(g); chunk0/chunk1: the first/second half of the channels
    identity       nothing, or a projection where width/resolution change
    (no weights)   'post'/'relu6': the activation after; 'pre': BN ReLU before
    projection     conv1x1(stride f) BN (ResNet shortcut); 'avgproj': avgpool(f) conv1x1 BN
    concat align   avg_pool2d(f, f, ceil_mode)    (downsample only; widths stack)
    scale a        the node's output times a
    zero_init      the op's last BN (for 'pre', its last conv) starts at zero
    tie            later tied nodes call the first one's module
    head           adaptive avg pool, flatten (+ dropout), linear
"""

from __future__ import annotations

import linecache
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nas.ir.arch import Arch
from nas.ir.canonical import live_nodes
from nas.ir.ops import UP_KINDS, default_act, parse_op

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
    def conv(self, cin: int, cout: int, k: int, stride: int, groups: int, hw: int, dilation: int = 1) -> str:
        self.params += cin // groups * cout * k * k
        self.flops += hw * cin // groups * cout * k * k
        g = f", groups={groups}" if groups > 1 else ""
        d = f", dilation={dilation}" if dilation > 1 else ""
        return f"nn.Conv2d({cin}, {cout}, {k}, stride={stride}, padding={dilation * (k // 2)}{d}{g}, bias=False)"

    def bn(self, c: int) -> str:
        self.params += 2 * c
        return f"nn.BatchNorm2d({c})"


def _halve(n: int, times: int) -> int:
    for _ in range(times):
        n = -(-n // 2)  # every stride-2 layer here rounds up
    return n


_ACT = {"post": "nn.ReLU(inplace=True)", "pre": "nn.ReLU(inplace=True)", "relu6": "nn.ReLU6(inplace=True)"}


def _layers(plan: _Plan, arch: Arch, i: int, cin: int, stride: int, hw: int) -> list[str]:
    """The layers of node i's op (after its merge), or [] for a pass-through."""
    node = arch.nodes[i]
    spec = parse_op(node.op)
    act = node.act or default_act(spec.kind)
    k, cout, d = spec.kernel, node.width, node.dilation
    pre = [plan.bn(cin), _ACT["pre"]] if act == "pre" else []
    if spec.kind == "upconv":  # after the transposed conv (`_up`): BN and the activation, if any
        return [plan.bn(cout), _ACT[act]] if act in ("post", "relu6") else []
    if spec.kind in ("conv", "pointwise", "grouped", "shuffle", "depthwise", "upsample"):
        groups = cin if spec.kind == "depthwise" else spec.groups
        conv = plan.conv(cin, cout, k, stride, groups, hw, d)
        if act == "pre":
            layers = [*pre, conv]
        else:
            layers = [conv, plan.bn(cout)] + ([_ACT[act]] if act in _ACT else [])
        if spec.kind == "shuffle":
            layers.append(f"ChannelShuffle({spec.groups})")
        return layers
    if spec.kind == "sepconv":
        dw = plan.conv(cin, cin, k, stride, cin, hw, d)
        if act == "pre":
            return [*pre, dw, plan.bn(cin), _ACT["pre"], plan.conv(cin, cout, 1, 1, 1, hw)]
        inner = _ACT["relu6"] if act == "relu6" else _ACT["post"]
        tail = [_ACT[act]] if act in _ACT else []
        return [dw, plan.bn(cin), inner, plan.conv(cin, cout, 1, 1, 1, hw), plan.bn(cout), *tail]
    layers = pre
    if spec.kind in ("maxpool", "avgpool"):
        cls = "nn.MaxPool2d" if spec.kind == "maxpool" else "nn.AvgPool2d"
        if k == 2:  # 2x2 windows, ceil: the resolution halves rounding up, like every stride here
            layers.append(f"{cls}(2, stride={stride}, ceil_mode=True)")
        else:
            extra = "" if spec.kind == "maxpool" or spec.base == "avgpad3x3" else ", count_include_pad=False"
            layers.append(f"{cls}(3, stride={stride}, padding=1{extra})")
        stride = 1
    elif spec.kind == "chshuffle":
        layers.append(f"ChannelShuffle({spec.groups})")
    elif spec.kind == "split":
        layers.append(f"Chunk({node.op[-1]})")
        cin = cout  # the half it keeps
    if stride > 1 or cin != cout:  # identity/pool/output that changes shape: project
        layers += [plan.conv(cin, cout, 1, stride, 1, hw), plan.bn(cout)]
    if act in ("post", "relu6"):
        layers.append(_ACT[act].replace("inplace=True", ""))  # may be the input itself: not in place
    return layers


def _seq(layers: list[str]) -> str:
    return layers[0] if len(layers) == 1 else "nn.Sequential(" + ", ".join(layers) + ")"


def _zero_init(name: str, layers: list[str]) -> str:
    """The line that zeroes the last BatchNorm's weight (or, with none after the last conv, that conv's)."""
    last_bn = max((k for k, layer in enumerate(layers) if layer.startswith("nn.BatchNorm2d")), default=-1)
    last_conv = max(k for k, layer in enumerate(layers) if layer.startswith("nn.Conv2d"))
    k = last_bn if last_bn > last_conv else last_conv
    where = name if len(layers) == 1 else f"{name}[{k}]"
    return f"nn.init.zeros_({where}.weight)"


def _shortcut(plan: _Plan, node_shortcut: str, cin: int, cout: int, f: int, hw: int) -> list[str]:
    """An add's alignment of an input of another shape: 'proj' or 'avgproj' (ResNet-D)."""
    if node_shortcut == "avgproj" and f > 1:
        pool = f"nn.AvgPool2d({f}, stride={f}, ceil_mode=True, count_include_pad=False)"
        return [pool, plan.conv(cin, cout, 1, 1, 1, hw), plan.bn(cout)]
    return [plan.conv(cin, cout, 1, f, 1, hw), plan.bn(cout)]


def _up(plan: _Plan, arch: Arch, i: int, merged: str, in_hw: int) -> str:
    """The up-sampling of node i (one stage up), as an expression; the layers after it follow.

    'upconv': ConvTranspose2d 2x2, stride 2 (with bias when 'linear', U-Net's; BN-act follow
    otherwise), cropped to the stage's size; 'upsample': a bilinear or nearest resize to the
    stage's size (conv3x3-BN-act follow). A stage's size is the input's halved `stage` times,
    rounding up: -(-H // 2**stage). `in_hw`: the pixels of its input (the merge stage).
    """
    node = arch.nodes[i]
    spec = parse_op(node.op)
    f = 2**node.stage
    size = f"-(-H // {f}), -(-W // {f})"
    if spec.kind == "upsample":
        mode = "bilinear" if node.op == "upbilinear" else "nearest"
        corners = ", align_corners=False" if mode == "bilinear" else ""
        return f'F.interpolate({merged}, size=({size}), mode="{mode}"{corners})'
    cin, cout = arch.in_width(i), node.width
    bias = (node.act or default_act(spec.kind)) == "linear"
    plan.params += cin * cout * 4 + (cout if bias else 0)
    # Fix: the transposed conv computes 2x2 outputs per input pixel, before the crop: counted
    # at the output size (hw) it missed the cropped row/column when a side is odd.
    plan.flops += in_hw * 4 * cin * cout
    plan.inits.append(f"self.n{i}_up = nn.ConvTranspose2d({cin}, {cout}, 2, stride=2, bias={bias})")
    return f"self.n{i}_up({merged})[:, :, : -(-H // {f}), : -(-W // {f})]"


def _plan(arch: Arch, input_shape: Shape, num_classes: int) -> _Plan:
    arch = arch.without_none()
    c_in, h, w = input_shape
    plan = _Plan()
    live = live_nodes(arch.nodes, arch.output_index)  # dead nodes would hold weights no gradient reaches
    order = [i for i in arch.topological_order() if i in live]
    last_use = {j: i for i in order for j in arch.nodes[i].inputs}
    tied: dict[int, int] = {}  # tie -> the node whose module the group shares
    dense = arch.dense  # the forward needs the input's size (H, W) to size up-sampled maps
    for i in order:
        node = arch.nodes[i]
        spec = parse_op(node.op)
        hw = _halve(h, node.stage) * _halve(w, node.stage)
        if spec.kind == "image":
            if node.width != c_in:
                raise ValueError(
                    f"this architecture's 'image' node takes {node.width}-channel images, not {c_in} "
                    f"(input shape {input_shape}); build it for {c_in} channels (e.g. nas sample --input-shape)"
                )
            plan.body.append(f"x{i} = x")
            continue
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
                proj = _shortcut(plan, node.shortcut, src.width, node.width, f, m_hw)
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
        if spec.kind in UP_KINDS:
            merged = _up(plan, arch, i, merged, m_hw)
            dense = True
        owner = tied.get(node.tie) if node.tie else None
        before = plan.params
        stride = 1 if spec.kind in UP_KINDS else 2 ** (node.stage - ms)
        layers = _layers(plan, arch, i, node.width if spec.kind == "upconv" else arch.in_width(i), stride, hw)
        scale = f" * {node.scale!r}" if node.scale != 1.0 else ""
        if owner is not None:  # a tied repeat: the first node's weights, counted once
            plan.params = before
            plan.body.append(f"x{i} = self.n{owner}({merged}){scale}")
        elif layers:
            plan.inits.append(f"self.n{i} = {_seq(layers)}")
            if node.zero_init:
                plan.inits.append(_zero_init(f"self.n{i}", layers))
            if node.tie:
                tied[node.tie] = i
            plan.body.append(f"x{i} = self.n{i}({merged}){scale}")
        else:
            plan.body.append(f"x{i} = {merged}{scale}" if not scale else f"x{i} = ({merged}){scale}")
        dead = [j for j in node.inputs if last_use[j] == i]
        if dead:  # free activations as soon as nothing reads them (long skips hold memory)
            plan.body.append("del " + ", ".join(f"x{j}" for j in sorted(dead)))
    out = arch.output_index
    width = arch.nodes[out].width
    plan.params += width * num_classes + num_classes
    if dense:
        plan.body.insert(0, "H, W = x.shape[-2:]")
    if arch.dense:  # per pixel: a 1x1 conv (with bias) to the classes, resized to the input if coarser
        stage = arch.nodes[out].stage
        plan.flops += _halve(h, stage) * _halve(w, stage) * width * num_classes
        plan.inits.append(f"self.{HEAD} = nn.Conv2d({width}, {num_classes}, 1)")
        logits = f"self.{HEAD}(x{out})"
        if stage:
            logits = f'F.interpolate({logits}, size=(H, W), mode="bilinear", align_corners=False)'
        plan.body.append(f"return {logits}")
        return plan
    plan.flops += width * num_classes
    drop = arch.nodes[out].dropout
    flat = f"nn.Sequential(nn.Flatten(), nn.Dropout(p={drop!r}))" if drop else "nn.Flatten()"
    plan.inits.append(
        f"self.{HEAD} = nn.Sequential(nn.AdaptiveAvgPool2d(1), {flat}, nn.Linear({width}, {num_classes}))"
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


class Chunk(nn.Module):
    """One half of the channels: ShuffleNet v2's channel split (x.chunk(2, dim=1)[part])."""

    def __init__(self, part: int):
        super().__init__()
        self.part = part

    def forward(self, x):
        return x.chunk(2, dim=1)[self.part]
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
        f"nas network {arch.hash()[:12]} for inputs {input_shape}, {num_classes} classes.\n\n"
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
