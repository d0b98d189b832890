"""Plots of one search, as PNG files (matplotlib's Agg canvas; pyplot and its global state
are never touched).

    history.png   validation accuracy per trial in order, the running best, pruned / failed /
                  infeasible trials marked
    pareto.png    validation accuracy vs parameters, the Pareto front marked
    ops.png       op kinds and merges among the top 10% of trials vs all trials
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from nas.ir import OP_KINDS

FILES = ("history.png", "pareto.png", "ops.png")
_NO_RESULT = ("failed", "infeasible", "interrupted")


def _figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def history(trials: Sequence, path: str, *, title: str = "") -> str:
    """Validation accuracy of every trial by trial number, with the running best."""
    fig = _figure(8, 4.5)
    ax = fig.add_subplot()
    trials = sorted(trials, key=lambda t: t.optuna_number)
    groups = {
        "complete": ("o", "#1f5fbf", "complete"),
        "duplicate": ("o", "#9db7e0", "duplicate (reused result)"),
        "pruned": ("x", "#e07b00", "pruned (partial result)"),
    }
    for state, (marker, color, label) in groups.items():
        pts = [(t.optuna_number, t.val_accuracy) for t in trials if t.state == state and t.val_accuracy is not None]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.scatter(xs, ys, marker=marker, color=color, s=28, label=f"{label}: {len(pts)}", zorder=3)
    best, run_x, run_y = -math.inf, [], []
    for t in trials:
        if t.state in ("complete", "duplicate") and t.val_accuracy is not None:
            best = max(best, t.val_accuracy)
        if best > -math.inf:
            run_x.append(t.optuna_number)
            run_y.append(best)
    if run_x:
        ax.step(run_x, run_y, where="post", color="#2a9d3a", lw=1.8, label="running best", zorder=2)
    lost = [t for t in trials if t.state in _NO_RESULT]
    lo = min([t.val_accuracy for t in trials if t.val_accuracy is not None] or [0.0])
    if lost:
        y = lo - 0.05 * max(0.05, (max(run_y) if run_y else 1.0) - lo)
        ax.scatter(
            [t.optuna_number for t in lost],
            [y] * len(lost),
            marker="v",
            color="#c44e52",
            s=30,
            label=f"failed / infeasible / interrupted (no result): {len(lost)}",
            zorder=3,
        )
    ax.set_xlabel("trial")
    ax.set_ylabel("validation accuracy")
    ax.set_title(title or "optimisation history")
    ax.grid(alpha=0.3)
    if trials:  # under the axes: inside, it would hide points
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    else:
        ax.text(0.5, 0.5, "no trials yet", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    return path


def pareto(rows: Sequence, front: Sequence, path: str, *, title: str = "") -> str:
    """Validation accuracy vs parameters of completed trials; the Pareto front highlighted."""
    fig = _figure(7, 4.8)
    ax = fig.add_subplot()
    pts = [(r.params, r.val_accuracy) for r in rows if r.val_accuracy is not None and r.params]
    if pts:
        xs, ys = zip(*pts, strict=True)
        ax.scatter(xs, ys, color="#8c9cb8", s=22, label=f"trials: {len(pts)}", zorder=2)
    fr = sorted((r for r in front if r.val_accuracy is not None and r.params), key=lambda r: r.params)
    if fr:
        ax.step([r.params for r in fr], [r.val_accuracy for r in fr], where="post", color="#c44e52", lw=1.5, zorder=3)
        ax.scatter(
            [r.params for r in fr],
            [r.val_accuracy for r in fr],
            color="#c44e52",
            s=46,
            zorder=4,
            edgecolor="black",
            linewidth=0.6,
            label=f"Pareto front: {len(fr)}",
        )
        for r in fr:
            ax.annotate(
                f"#{r.trial}",
                (r.params, r.val_accuracy),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
                color="#7a1f22",
            )
    if pts:
        ax.set_xscale("log")
        ax.legend(fontsize=8, loc="lower right")
    else:
        ax.text(0.5, 0.5, "no completed trials yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("parameters (log scale)")
    ax.set_ylabel("validation accuracy")
    ax.set_title(title or "accuracy vs size")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path)
    return path


def _shares(rows: Sequence) -> tuple[dict[str, float], dict[str, float]]:
    """(share of nodes per op kind, mean count per architecture of merges and skips)."""
    nodes = sum(int(r.summary.get("nodes") or 0) for r in rows) or 1
    kinds = {k: sum(int(r.summary.get(k) or 0) for r in rows) / nodes for k in OP_KINDS}
    n = len(rows) or 1
    structure = {k: sum(int(r.summary.get(k) or 0) for r in rows) / n for k in ("add", "concat", "skips", "long_skips")}
    return kinds, structure


def op_frequencies(rows: Sequence, path: str, *, title: str = "", top_fraction: float = 0.1) -> str:
    """Op kinds (share of nodes) and merges/skips (per architecture): top `top_fraction` vs all.

    `rows` are leaderboard rows ranked best first.
    """
    import numpy as np

    fig = _figure(10, 4.2)
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
    k = max(1, math.ceil(len(rows) * top_fraction))
    top = list(rows[:k])
    groups = [(f"top {top_fraction:.0%} ({len(top)})", top, "#c44e52"), (f"all ({len(rows)})", list(rows), "#8c9cb8")]
    for ax, which, ylabel in ((ax1, 0, "share of nodes"), (ax2, 1, "mean per architecture")):
        labels = None
        for g, (name, subset, color) in enumerate(groups):
            values = _shares(subset)[which]
            labels = list(values)
            x = np.arange(len(labels))
            ax.bar(x + (g - 0.5) * 0.38, [values[k] for k in labels], width=0.38, color=color, label=name)
        ax.set_xticks(np.arange(len(labels)))
        ax.set_xticklabels([k.replace("_", " ") for k in labels], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, axis="y")
    ax1.set_title("op kinds")
    ax2.set_title("merges and skips")
    ax1.legend(fontsize=8)
    if not rows:
        ax1.text(0.5, 0.5, "no completed trials yet", ha="center", va="center", transform=ax1.transAxes)
    fig.suptitle(title or "what the best architectures use", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_search(store, search: str, out_dir: str) -> list[str]:
    """Write `FILES` for `search` into `out_dir`; return their paths."""
    os.makedirs(out_dir, exist_ok=True)
    trials = store.trials(search)
    rows = store.leaderboard(search)
    front = store.leaderboard(search, pareto=True)
    p = [os.path.join(out_dir, f) for f in FILES]
    history(trials, p[0], title=f"{search}: validation accuracy per trial")
    pareto(rows, front, p[1], title=f"{search}: validation accuracy vs parameters")
    op_frequencies(rows, p[2], title=f"{search}: op kinds and merges, top 10% vs all completed trials")
    return p
