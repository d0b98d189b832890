"""Pictures of an architecture: Graphviz DOT text, and PNG/SVG drawn with matplotlib.

Both show the same things, so the skip structure reads at a glance:
- nodes by op kind: one colour and one shape per kind (legend included); a node's label is its
  op, its width and, compactly, the attributes it sets (`attr_text`: ``pre``, ``d2``, ``×0.1``,
  ``0init``, ``avgproj``, ``tie1``, ``drop 0.2``); 'none' nodes, and nodes that read only
  'none' nodes (absent from the network), are pale with dotted edges;
- edges by merge: into an ``add`` node solid blue with "+", into a ``concat`` node dashed
  orange with "cat", a plain single-input edge grey; long skips (across stages) are thicker;
- stages grouped: DOT clusters, or shaded vertical bands in the matplotlib drawing.

The matplotlib layout is computed here (no Graphviz binary needed): x is a node's layer (its
longest-path depth from the stem), nodes of one layer stack vertically, edges that jump over
layers are arcs (add arcs above the backbone, concat arcs below).

`compact_summary` is the one-cell text form of the same picture used by the leaderboard.
"""

from __future__ import annotations

import os
from typing import Any

from nas.ir import Arch, parse_op
from nas.ir.canonical import absent_nodes

# kind        colour     DOT shape        matplotlib box style   legend text
KIND_STYLE: dict[str, tuple[str, str, str, str]] = {
    "input": ("#4d4d4d", "house", "rarrow", "stem (input)"),
    "image": ("#4d4d4d", "house", "rarrow", "image (stem as nodes)"),
    "conv": ("#4c72b0", "box", "square", "conv kxk"),
    "pointwise": ("#64b5cd", "box", "square", "conv 1x1"),
    "grouped": ("#55a868", "hexagon", "round", "grouped conv"),
    "shuffle": ("#8172b2", "octagon", "round", "grouped conv + shuffle"),
    "depthwise": ("#b8860b", "ellipse", "round", "depthwise conv"),
    "sepconv": ("#dd8452", "ellipse", "round4", "depthwise-separable"),
    "chshuffle": ("#9b59b6", "parallelogram", "round4", "channel shuffle"),
    "split": ("#17a2b8", "trapezium", "round", "channel split (chunk)"),
    "maxpool": ("#c44e52", "invtrapezium", "sawtooth", "max pool"),
    "avgpool": ("#da8bc3", "invtrapezium", "sawtooth", "avg pool"),
    "identity": ("#b0b0b0", "circle", "circle", "identity"),
    "none": ("#e6e6e6", "circle", "circle", "none (absent)"),
    "upconv": ("#2a9d8f", "box3d", "square", "transposed conv (up)"),
    "upsample": ("#52b69a", "box3d", "round", "resize + conv (up)"),
    "output": ("#4d4d4d", "invhouse", "rarrow", "output (pool + linear)"),
    "pixels": ("#4d4d4d", "invhouse", "rarrow", "per-pixel output (1x1 conv)"),
}
#: Text colour on a node: white, or dark on the pale ones.
_DARK_TEXT = frozenset({"none"})
#: Colours of 'none' nodes, nodes that read only them (absent), and the edges that touch them.
ABSENT_COLOR, ABSENT_TEXT = "#e6e6e6", "#888888"
# merge       colour     DOT style  mpl style  label
MERGE_STYLE: dict[str | None, tuple[str, str, str, str]] = {
    "add": ("#1f5fbf", "solid", "-", "+"),
    "concat": ("#e07b00", "dashed", "--", "cat"),
    None: ("#555555", "solid", "-", ""),
}

#: What the letters of `compact_summary` mean (printed under the leaderboard).
SUMMARY_LEGEND = (
    "arch: g grouped convs, dw depthwise(-separable) convs, sh channel shuffles (alone or after a "
    "grouped conv), + add merges, c concat merges, L long skips (across stages)"
)


def compact_summary(summary: dict[str, Any]) -> str:
    """One cell for an `Arch.summary()` dict, e.g. ``"g2 dw1 sh0 +3 c1 L2"``."""

    def n(key: str) -> int:
        return int(summary.get(key) or 0)

    dw, sh = n("sepconv") + n("depthwise"), n("shuffle") + n("chshuffle")
    return f"g{n('grouped')} dw{dw} sh{sh} +{n('add')} c{n('concat')} L{n('long_skips')}"


# ---- structure shared by both drawings -------------------------------------------------------
def _edge_kind(arch: Arch, src: int, dst: int) -> str | None:
    node = arch.nodes[dst]
    return node.merge if len(node.inputs) > 1 else None


def skip_edges(arch: Arch) -> dict[tuple[int, int], bool]:
    """Skip edges -> True when long, as `Arch.summary` counts them (`Arch.skip_edges`)."""
    return arch.skip_edges()


def absent(arch: Arch) -> list[bool]:
    """Per node: True for 'none' nodes and the nodes that read only them (not in the network)."""
    return absent_nodes(arch.nodes, arch.output_index) if arch.has_none() else [False] * len(arch.nodes)


_TERMINAL_OPS = ("input", "image", "output", "pixels", "none")


def _stage_widths(arch: Arch) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for n in arch.nodes:
        if n.op not in _TERMINAL_OPS:
            out.setdefault(n.stage, [])
            if n.width not in out[n.stage]:
                out[n.stage].append(n.width)
    return out


def _stage_label(arch: Arch, stage: int) -> str:
    widths = _stage_widths(arch).get(stage) or [n.width for n in arch.nodes if n.stage == stage][:1]
    return f"stage {stage} ({'/'.join(map(str, widths))} ch)"


#: Short forms of the activation placements (`nas.ir.ops.ACTS`) in labels.
_ACT_TEXT = {"post": "relu", "pre": "pre", "linear": "lin", "relu6": "relu6"}


def attr_text(arch: Arch, i: int) -> str:
    """The attributes node i sets, compactly: ``pre d2 ×0.1 0init avgproj tie1 drop 0.2``
    ("" when it sets none). A shortcut shows only on an add that projects with it."""
    n = arch.nodes[i]
    parts = []
    if n.act is not None:
        parts.append(_ACT_TEXT.get(n.act, n.act))
    if n.dilation != 1:
        parts.append(f"d{n.dilation}")
    if n.scale != 1.0:
        parts.append(f"×{n.scale:g}")
    if n.zero_init:
        parts.append("0init")
    if n.shortcut != "proj" and n.merge == "add" and len(n.inputs) > 1:
        parts.append(n.shortcut)
    if n.tie:
        parts.append(f"tie{n.tie}")
    if n.dropout:
        parts.append(f"drop {n.dropout:g}")
    return " ".join(parts)


def _node_text(arch: Arch, i: int) -> str:
    n = arch.nodes[i]
    if n.op == "input":
        text = f"stem\n{n.width}"
    elif n.op == "image":
        text = f"image\n{n.width} ch"
    elif n.op in ("output", "pixels", "none"):
        text = n.op
    else:
        text = f"{n.op}\n{n.width}"
    extra = attr_text(arch, i)
    return f"{text}\n{extra}" if extra else text


def layers(arch: Arch) -> list[int]:
    """Each node's layer: the length of the longest path from the stem to it."""
    layer = [0] * len(arch.nodes)
    for i in arch.topological_order():
        ins = arch.nodes[i].inputs
        layer[i] = 1 + max(layer[j] for j in ins) if ins else 0
    return layer


# ---- Graphviz DOT ------------------------------------------------------------------------------
def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(arch: Arch, *, title: str | None = None) -> str:
    """Graphviz DOT text of `arch` (render with e.g. ``dot -Tpng arch.dot -o arch.png``)."""
    lines = [
        "digraph arch {",
        "  rankdir=LR; newrank=true; compound=true; nodesep=0.25; ranksep=0.45;",
        '  node [fontname="Helvetica", fontsize=10, style="filled", fontcolor="white", penwidth=0];',
        '  edge [fontname="Helvetica", fontsize=10, arrowsize=0.7];',
    ]
    if title:
        lines.append(f'  label={_q(title)}; labelloc=t; fontname="Helvetica";')
    kinds_used = []
    gone, skips = absent(arch), skip_edges(arch)
    for stage in sorted({n.stage for n in arch.nodes}):
        shade = "#f2f2f2" if stage % 2 == 0 else "#e4e8f0"
        lines.append(f"  subgraph cluster_stage{stage} {{")
        lines.append(f'    label={_q(_stage_label(arch, stage))}; style="filled,rounded"; color="{shade}";')
        for i in arch.topological_order():
            n = arch.nodes[i]
            if n.stage != stage:
                continue
            kind = parse_op(n.op).kind
            if kind not in kinds_used:
                kinds_used.append(kind)
            color, shape, _, _ = KIND_STYLE[kind]
            label = f"n{i}: " + _node_text(arch, i)
            extra = ""
            if gone[i]:  # 'none', or reads only 'none': pale, dashed outline
                color = ABSENT_COLOR
                extra = f', fontcolor="{ABSENT_TEXT}", style="filled,dashed", color="{ABSENT_TEXT}", penwidth=1'
            lines.append(f'    n{i} [label={_q(label)}, shape={shape}, fillcolor="{color}"{extra}];')
        lines.append("  }")
    order = {i: k for k, i in enumerate(arch.topological_order())}
    for src, dst in sorted(arch.edges, key=lambda e: (order[e.dst], order[e.src])):
        merge = _edge_kind(arch, src, dst)
        color, style, _, label = MERGE_STYLE[merge]
        if gone[src] or gone[dst]:  # an edge of an absent node: dotted, pale
            color, style, label = ABSENT_TEXT, "dotted", ""
        attrs = [f'color="{color}"', f"style={style}", f'fontcolor="{color}"']
        if label:
            attrs.append(f"label={_q(label)}")
        if skips.get((src, dst), False):
            attrs.append("penwidth=2.2")
        if order[dst] - order[src] > 1:
            attrs.append("constraint=false")  # skips do not stretch the backbone's ranks
        lines.append(f"  n{src} -> n{dst} [{', '.join(attrs)}];")
    # legend: one sample node per op kind present, and one edge per merge
    lines.append("  subgraph cluster_legend {")
    lines.append('    label="legend"; style="rounded"; color="#999999"; fontsize=10;')
    for k, kind in enumerate(kinds_used):
        color, shape, _, text = KIND_STYLE[kind]
        font = f', fontcolor="{ABSENT_TEXT}"' if kind in _DARK_TEXT else ""
        lines.append(f'    legend_k{k} [label={_q(text)}, shape={shape}, fillcolor="{color}", fontsize=9{font}];')
    for merge in ("add", "concat"):
        color, style, _, label = MERGE_STYLE[merge]
        lines.append(f'    legend_{merge}_a [label="", shape=point, width=0.05, fillcolor="{color}"];')
        lines.append(
            f'    legend_{merge}_b [label={_q(merge + " merge")}, shape=plaintext, fontcolor="{color}", '
            'style="", fontsize=9];'
        )
        lines.append(
            f'    legend_{merge}_a -> legend_{merge}_b [color="{color}", style={style}, '
            f'label={_q(label)}, fontcolor="{color}"];'
        )
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---- matplotlib ------------------------------------------------------------------------------
def _positions(arch: Arch) -> dict[int, tuple[float, float]]:
    layer = layers(arch)
    by_layer: dict[int, list[int]] = {}
    for i in arch.topological_order():
        by_layer.setdefault(layer[i], []).append(i)
    pos = {}
    for x, members in by_layer.items():
        for k, i in enumerate(members):
            pos[i] = (float(x), (k - (len(members) - 1) / 2) * 1.4)
    return pos


def figure(arch: Arch, *, title: str | None = None):
    """A matplotlib `Figure` of `arch` (no pyplot, so no global backend is touched)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch
    from matplotlib.path import Path

    pos = _positions(arch)
    n_layers = int(max(x for x, _ in pos.values())) + 1
    spread = max(abs(y) for _, y in pos.values())
    # arcs: an edge that jumps over layers, or joins nodes of one layer, is drawn as an arc
    arcs = []
    max_up = max_down = 0.0
    for src, dst in arch.edges:
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        span = x1 - x0
        if span > 1 or span == 0:
            merge = _edge_kind(arch, src, dst)
            up = merge != "concat"
            height = 0.55 + 0.22 * span
            arcs.append((src, dst, up, height))
            if up:
                max_up = max(max_up, height)
            else:
                max_down = max(max_down, height)

    width_in = max(7.0, 1.25 * n_layers + 1.0)
    height_in = 2.6 + 1.0 * (max_up + max_down) + 1.2 * spread
    fig = Figure(figsize=(width_in, height_in), dpi=110)
    ax = fig.add_axes((0.02, 0.2, 0.96, 0.68))
    ax.set_xlim(-0.8, n_layers - 0.2)
    ax.set_ylim(-spread - max_down - 0.7, spread + max_up + 0.9)
    ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=11, y=0.97)

    # stage bands
    stages = sorted({n.stage for n in arch.nodes})
    top = spread + max_up + 0.9
    for s in stages:
        xs = [pos[i][0] for i, n in enumerate(arch.nodes) if n.stage == s]
        lo, hi = min(xs) - 0.48, max(xs) + 0.48
        ax.axvspan(lo, hi, color="#f0f0f0" if s % 2 == 0 else "#e2e7f0", zorder=0)
        ax.text((lo + hi) / 2, top - 0.12, _stage_label(arch, s), ha="center", va="top", fontsize=9, color="#444444")

    box_w, box_h = 0.78, 0.62

    # edges first (under the nodes)
    arc_of = {(a, b): (u, h) for a, b, u, h in arcs}
    gone, skips = absent(arch), skip_edges(arch)
    for src, dst in arch.edges:
        merge = _edge_kind(arch, src, dst)
        color, _, ls, label = MERGE_STYLE[merge]
        if gone[src] or gone[dst]:  # an edge of an absent node: dotted, pale
            color, ls, label = ABSENT_TEXT, ":", ""
        lw = 2.4 if skips.get((src, dst), False) else 1.3
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        if (src, dst) in arc_of:
            up, height = arc_of[(src, dst)]
            sign = 1 if up else -1
            start, end = (x0 + 0.12, y0 + sign * box_h / 2), (x1 - 0.12, y1 + sign * box_h / 2)
            # a quadratic Bezier in data units: its peak is half the control point's offset
            ctrl = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + sign * 2 * height)
            path = Path([start, ctrl, end], [Path.MOVETO, Path.CURVE3, Path.CURVE3])
            ax.add_patch(
                FancyArrowPatch(
                    path=path,
                    arrowstyle="-|>",
                    mutation_scale=11,
                    color=color,
                    linestyle=ls,
                    lw=lw,
                    zorder=2,
                    shrinkA=0,
                    shrinkB=0,
                )
            )
            if label:
                mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + sign * height
                ax.text(
                    mx,
                    my,
                    label,
                    ha="center",
                    va="center",
                    fontsize=9,
                    color=color,
                    zorder=4,
                    fontweight="bold",
                    bbox=dict(boxstyle="round,pad=0.12", fc="white", ec="none", alpha=0.9),
                )
        else:
            arrow = FancyArrowPatch(
                (x0 + box_w / 2, y0),
                (x1 - box_w / 2, y1),
                arrowstyle="-|>",
                mutation_scale=11,
                color=color,
                linestyle=ls,
                lw=lw,
                zorder=2,
                shrinkA=0,
                shrinkB=1,
            )
            ax.add_patch(arrow)
            if label:
                ax.text(
                    (x0 + x1) / 2,
                    (y0 + y1) / 2 + 0.13,
                    label,
                    ha="center",
                    va="bottom",
                    fontsize=9,
                    color=color,
                    fontweight="bold",
                    zorder=4,
                )

    # nodes
    kinds_used = []
    for i, n in enumerate(arch.nodes):
        kind = parse_op(n.op).kind
        if kind not in kinds_used:
            kinds_used.append(kind)
        _node_patch(ax, FancyBboxPatch, pos[i], kind, box_w, box_h, gone[i])
        ax.text(
            pos[i][0],
            pos[i][1],
            _node_text(arch, i),
            ha="center",
            va="center",
            fontsize=7.5 if not attr_text(arch, i) else 6.5,  # a third line: the attributes
            color=ABSENT_TEXT if gone[i] or kind in _DARK_TEXT else "white",
            zorder=5,
            fontweight="bold",
        )
        ax.text(
            pos[i][0] - box_w / 2,
            pos[i][1] + box_h / 2 + 0.03,
            f"n{i}",
            ha="left",
            va="bottom",
            fontsize=7,
            color="#555555",
            zorder=5,
        )

    # legend: op kinds present (colour and shape), then the edge styles
    kinds_used.sort(key=lambda k: list(KIND_STYLE).index(k))
    handles = [Patch(facecolor=KIND_STYLE[k][0], label=KIND_STYLE[k][3]) for k in kinds_used]
    handles += [
        Line2D([0], [0], color=MERGE_STYLE["add"][0], ls="-", lw=1.6, label="into an add merge (+)"),
        Line2D([0], [0], color=MERGE_STYLE["concat"][0], ls="--", lw=1.6, label="into a concat merge (cat)"),
        Line2D([0], [0], color=MERGE_STYLE[None][0], ls="-", lw=1.3, label="single input"),
        Line2D([0], [0], color="#333333", ls="-", lw=2.6, label="long skip (thick)"),
    ]
    ncol = max(2, min(5, int(width_in // 2.3)))
    fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.0))
    return fig


def _node_patch(ax, FancyBboxPatch, xy, kind: str, w: float, h: float, pale: bool = False) -> None:
    color, _, style, _ = KIND_STYLE[kind]
    edge, line = "white", "-"
    if pale:  # 'none' or absent: pale fill, dashed grey outline
        color, edge, line = ABSENT_COLOR, ABSENT_TEXT, "--"
    x, y = xy
    if style in ("larrow", "rarrow"):  # the arrow head adds about h/2 on one side
        box = FancyBboxPatch(
            (x - w / 2 + 0.08, y - h / 2 + 0.1),
            w - 0.42,
            h - 0.2,
            boxstyle=f"{style},pad=0.06",
            fc=color,
            ec=edge,
            ls=line,
            lw=1,
            zorder=3,
        )
    elif style == "circle":
        box = FancyBboxPatch(
            (x - w / 2 + 0.12, y - h / 2 + 0.02),
            w - 0.24,
            h - 0.04,
            boxstyle="circle,pad=0.02",
            fc=color,
            ec=edge,
            ls=line,
            lw=1,
            zorder=3,
        )
    else:
        pad = 0.05
        box = FancyBboxPatch(
            (x - w / 2 + pad, y - h / 2 + pad),
            w - 2 * pad,
            h - 2 * pad,
            boxstyle=f"{style},pad={pad}",
            fc=color,
            ec=edge,
            ls=line,
            lw=1,
            zorder=3,
        )
    ax.add_patch(box)


def draw(arch: Arch, path: str | os.PathLike, *, format: str | None = None, title: str | None = None) -> str:
    """Write a drawing of `arch` to `path` as png, svg or dot (default: from the extension).

    Raises:
        ValueError: an unknown format.
    Returns:
        The format written.
    """
    fmt = (format or os.path.splitext(str(path))[1].lstrip(".") or "png").lower()
    if fmt not in ("png", "svg", "dot"):
        raise ValueError(f"drawing format {fmt!r}: use png, svg or dot")
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    if fmt == "dot":
        with open(path, "w") as f:
            f.write(to_dot(arch, title=title))
        return fmt
    fig = figure(arch, title=title)
    fig.savefig(path, format=fmt)
    return fmt


def tracker_drawing(arch_json: str, title: str | None = None) -> tuple[str, Any]:
    """`arch_json` drawn for an experiment tracker (`nas search --tensorboard`): the Graphviz DOT
    text (`to_dot`) and the matplotlib drawing (`figure`) as an RGB image, a uint8 array of shape
    (height, width, 3). No Graphviz binary is needed. The image is None when matplotlib's Agg
    canvas or numpy is missing."""
    arch = Arch.from_json(arch_json)
    dot = to_dot(arch, title=title)
    try:
        import numpy as np
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError:
        return dot, None
    fig = figure(arch, title=title)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return dot, np.asarray(canvas.buffer_rgba())[..., :3].copy()
