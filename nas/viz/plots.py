"""Plots of one search, one file per kind: ``KIND.FORMAT`` (png, svg or pdf).

Where Optuna already has the picture, Optuna draws it (`optuna.visualization.matplotlib`, from
the search's study in the same database); our own code draws only what Optuna cannot:

    history       Optuna's plot_optimization_history: val_accuracy of every completed trial by
                  trial number and the running best (for a multi-objective search the running
                  best of val_accuracy is added here: Optuna draws none for a custom target).
    pareto        multi-objective search: Optuna's plot_pareto_front, params (or flops) on a log
                  x axis against val_accuracy, the front marked. Single-objective search: ours,
                  val_accuracy vs params from the ``nas_`` tables with the (max val_accuracy,
                  min params) front, because Optuna's needs a study of 2 or 3 objectives.
    importance    Optuna's plot_param_importances with PedAnovaImportanceEvaluator: it needs only
                  numpy (fANOVA and mean-decrease-impurity need scikit-learn, which is not a
                  dependency). Importance for reaching a high val_accuracy; needs at least 2
                  completed trials.
    intermediate  Optuna's plot_intermediate_values: the per-epoch val_accuracy the driver
                  reports for pruning, i.e. learning curves. The driver reports every epoch but
                  the last, and a multi-objective search reports none (it does not prune).
    ops           ours: op kinds and merges among the top 10% of trials vs all trials.

`DEFAULT_KINDS` are what `nas plot` writes without ``--kind``. Optuna's functions draw through
pyplot and switch on its ggplot style: each runs inside `matplotlib.rc_context` and its figures
are closed once saved, so no style or figure outlives the call. Our own plots use a bare
`Figure` on the Agg canvas and never touch pyplot.
"""

from __future__ import annotations

import contextlib
import math
import os
import textwrap
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from nas.ir import OP_KINDS

KINDS = ("history", "pareto", "importance", "intermediate", "ops")
DEFAULT_KINDS = ("history", "pareto", "ops")
FORMATS = ("png", "svg", "pdf")
MIN_DPI = 150
DEFAULT_DPI = 150
#: Parameters shown by the importance plot, most important first.
TOP_PARAMS = 15
#: Learning curves beyond this many trials get no legend (colours repeat, names unreadable).
MAX_LEGEND_TRIALS = 20


class PlotUnavailable(ValueError):
    """This search cannot give this kind of plot yet; the message says why."""


# ---- options -----------------------------------------------------------------------------------
def parse_kinds(values: str | Iterable[str] | None) -> tuple[str, ...]:
    """Kinds from ``--kind`` values (each may be a comma list; ``all`` is every kind), in the
    order given, without repeats; `DEFAULT_KINDS` when none are given.

    Raises:
        ValueError: an unknown kind (the message names the valid ones).
    """
    if values is None:
        return DEFAULT_KINDS
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            if name == "all":
                out.extend(KINDS)
            elif name in KINDS:
                out.append(name)
            else:
                raise ValueError(f"unknown plot kind {part.strip()!r}; choose from {', '.join(KINDS)} or all")
    if not out:
        raise ValueError(f"no plot kind given; choose from {', '.join(KINDS)} or all")
    return tuple(dict.fromkeys(out))


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown plot format {fmt!r}; choose from {', '.join(FORMATS)}")
    return fmt


def check_dpi(dpi: int | float) -> int | float:
    """`dpi`, when it is a finite number of at least `MIN_DPI`.

    Raises:
        ValueError: naming the value (too low, or not a number).
    """
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not math.isfinite(dpi):
        raise ValueError(f"dpi {dpi!r} is not a finite number; use --dpi {MIN_DPI} or more")
    if dpi < MIN_DPI:
        raise ValueError(f"dpi {dpi:g} is below the minimum of {MIN_DPI}; use --dpi {MIN_DPI} or more")
    return dpi


# ---- shared figure helpers ---------------------------------------------------------------------
def _figure(w: float, h: float, dpi: float = DEFAULT_DPI):
    """A bare Figure on the Agg canvas (pyplot untouched)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _wrap(text: str, width_in: float, fontsize: float = 11) -> str:
    """`text` wrapped to lines that fit `width_in` inches at `fontsize` points."""
    chars = max(20, int(width_in * 72 / (0.55 * fontsize)))
    return textwrap.fill(text, chars, break_on_hyphens=False)


def _title(ax, text: str, fontsize: float = 11) -> None:
    width = ax.figure.get_figwidth() * ax.get_position().width
    ax.set_title(_wrap(text, width, fontsize), fontsize=fontsize, loc="center")


def _legend_below(ax, ncol: int = 2, rename: dict[str, str] | None = None, y: float = -0.14, **kw: Any) -> None:
    """The legend under the axes (inside, it would hide points); labels renamed by `rename`."""
    handles, labels = ax.get_legend_handles_labels()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    if handles:
        ax.legend(
            handles,
            [(rename or {}).get(label, label) for label in labels],
            fontsize=8,
            loc="upper center",
            bbox_to_anchor=(0.5, y),
            ncol=min(ncol, len(handles)),
            frameon=False,
            **kw,
        )


def _count(x: float, _pos: Any = None) -> str:
    """A count for a tick label: 500, 2k, 1.5M."""
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"


def _log_count_axis(ax) -> None:
    """A log x axis labelled 1, 2 and 5 per decade as plain counts (1k, 20k, 500k): the default
    labels (2x10^4 3x10^4 ...) run into each other."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    axis = ax.xaxis
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(_count))
    axis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="major", alpha=0.5)


def _save(fig, path: str, fmt: str, dpi: float) -> str:
    fig.savefig(path, format=fmt, dpi=dpi, bbox_inches="tight", pad_inches=0.15)
    return path


@contextlib.contextmanager
def _optuna_drawing() -> Iterator[None]:
    """Around an `optuna.visualization.matplotlib` call: its style and figures stay inside,
    and its ExperimentalWarning is silenced."""
    import warnings

    import matplotlib
    from matplotlib import pyplot as plt
    from optuna.exceptions import ExperimentalWarning

    before = set(plt.get_fignums())
    try:
        with matplotlib.rc_context(), warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            yield
    finally:
        for n in set(plt.get_fignums()) - before:
            plt.close(n)


def _complete(study) -> list:
    import optuna

    return [
        t
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if t.values and all(math.isfinite(v) for v in t.values)
    ]


def _accuracy(t) -> float:
    return float(t.values[0])


# ---- Optuna's plots ----------------------------------------------------------------------------
def history(
    study, path: str, *, fmt: str = "png", dpi: float = DEFAULT_DPI, title: str = "", score: str = "accuracy"
) -> str:
    """Optuna's optimization history: val_accuracy per completed trial and the running best."""
    import optuna
    from matplotlib.ticker import MaxNLocator

    multi = len(study.directions) > 1
    with _optuna_drawing():
        ax = optuna.visualization.matplotlib.plot_optimization_history(
            study, target=_accuracy if multi else None, target_name="val_accuracy"
        )
        fig = ax.figure
        fig.set_size_inches(8, 4.5)
        if multi:  # Optuna draws no running best for a custom target: val_accuracy is maximised
            pts = sorted((t.number, _accuracy(t)) for t in _complete(study))
            best, xs, ys = -math.inf, [], []
            for n, v in pts:
                best = max(best, v)
                xs.append(n)
                ys.append(best)
            ax.step(xs, ys, where="post", color="tab:red", alpha=0.6, label="Best Value")
        ax.set_xlabel("trial")
        ax.set_ylabel(f"validation {score}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _title(ax, title or "optimisation history")
        n = len(_complete(study))
        _legend_below(ax, rename={"val_accuracy": f"completed trial: {n}", "Best Value": "best so far"})
        fig.tight_layout()
        return _save(fig, path, fmt, dpi)


def _objective_names(search_record, study) -> list[str]:
    names = list(getattr(search_record, "objectives", ()) or ())
    if len(names) != len(study.directions):
        names = ["val_accuracy"] + [f"objective {i}" for i in range(1, len(study.directions))]
    return names


def optuna_pareto(
    study, objectives: Sequence[str], path: str, *, fmt="png", dpi=DEFAULT_DPI, title="", score: str = "accuracy"
) -> str:
    """Optuna's Pareto front of a 2- or 3-objective study. With 2 objectives the cost (params
    or flops) is the x axis, log scale, and val_accuracy the y axis, as in our own plot."""
    import optuna

    n = len(study.directions)
    with _optuna_drawing():
        if n == 2:
            ax = optuna.visualization.matplotlib.plot_pareto_front(
                study,
                target_names=[f"{objectives[1]} (log scale)", f"validation {score}"],
                targets=lambda t: (t.values[1], t.values[0]),
            )
            fig = ax.figure
            fig.set_size_inches(7.5, 5)
            _log_count_axis(ax)
            ax.margins(x=0.06, y=0.1)
            numbers: dict[tuple[float, float], list[int]] = {}
            for t in sorted(study.best_trials, key=lambda t: t.number):  # duplicates share a point
                numbers.setdefault((t.values[1], t.values[0]), []).append(t.number)
            front = sorted(numbers)
            if front:
                ax.step([x for x, _ in front], [y for _, y in front], where="post", color="tab:red", lw=1, zorder=1)
            for (x, y), ns in sorted(numbers.items()):
                label = ", ".join(f"#{n}" for n in ns[:3]) + (", ..." if len(ns) > 3 else "")
                ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7)
            done = len(_complete(study))
            _legend_below(
                ax,
                ncol=3,
                rename={"Trial": f"completed trial: {done}", "Best Trial": f"Pareto front: {len(study.best_trials)}"},
            )
        else:
            from matplotlib.ticker import FuncFormatter

            ax = optuna.visualization.matplotlib.plot_pareto_front(study, target_names=list(objectives))
            fig = ax.figure
            fig.set_size_inches(7.5, 6.5)
            for axis in (ax.yaxis, ax.zaxis):  # counts as 20k, 3M: no "1e7" offset in a corner
                axis.set_major_formatter(FuncFormatter(_count))
            done = len(_complete(study))
            _legend_below(
                ax,
                ncol=2,
                rename={"Trial": f"completed trial: {done}", "Best Trial": f"Pareto front: {len(study.best_trials)}"},
                y=0.02,  # a 3-D axes box has room below its floor
            )
        _title(ax, title or "Pareto front")
        fig.tight_layout()
        return _save(fig, path, fmt, dpi)


def importance(
    study, path: str, *, fmt: str = "png", dpi: float = DEFAULT_DPI, title: str = "", top: int = TOP_PARAMS
) -> str:
    """Optuna's parameter importances (PED-ANOVA) for reaching a high val_accuracy; the `top`
    most important parameters are shown (a search space has dozens, most near 0).

    Raises:
        PlotUnavailable: fewer than 2 completed trials.
    """
    import warnings

    import optuna

    why = _unavailable(study, "importance")
    if why:
        raise PlotUnavailable(why)
    n = len(_complete(study))
    multi = len(study.directions) > 1
    evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    with _optuna_drawing(), warnings.catch_warnings():
        # PED-ANOVA takes a custom target as lower-is-better: the sign is flipped on purpose
        warnings.filterwarnings("ignore", message=".*computes the importances of params to achieve low")
        warnings.filterwarnings("ignore", message=".*Parameter importances will be equal")
        # once per sparse parameter of a conditional space: the x label says how many trials there are
        warnings.filterwarnings("ignore", message="Some regimes for parameter")
        ax = optuna.visualization.matplotlib.plot_param_importances(
            study,
            evaluator=evaluator,
            target=(lambda t: -t.values[0]) if multi else None,
            target_name="val_accuracy",
        )
        fig = ax.figure
        total = len(ax.get_yticks())
        shown = _keep_top_bars(ax, top)
        fig.set_size_inches(7.5, max(3.5, 1.8 + 0.3 * shown))
        ax.set_title("", loc="left")  # Optuna's own title, where ours would run into it
        ax.set_xlabel(f"importance for a high validation accuracy (PED-ANOVA, {n} completed trials)")
        which = f"the {shown} most important of {total}" if shown < total else f"all {total}"
        ax.set_ylabel(f"search-space parameter ({which})")
        ax.tick_params(axis="y", labelsize=8)
        pad = 0.01 * ax.get_xlim()[1]
        for text in ax.texts:  # Optuna puts the value right at the bar's end
            x, y = text.get_position()
            text.set_position((x + pad, y))
            text.set_fontsize(8)
        if ax.get_legend() is not None:
            ax.get_legend().remove()  # one objective: the legend only repeats the axis label
        _title(ax, title or "parameter importances")
        fig.tight_layout()
        return _save(fig, path, fmt, dpi)


def _keep_top_bars(ax, top: int) -> int:
    """Keep the `top` highest bars of Optuna's importance plot (drawn least important first, one
    per integer y position) with their labels; return how many are left."""
    labels = [t.get_text() for t in ax.get_yticklabels()]
    n = len(labels)
    if n <= top:
        return n
    cut = n - top - 0.5
    for artist in [*ax.patches, *ax.texts]:
        y = artist.get_y() + artist.get_height() / 2 if hasattr(artist, "get_height") else artist.get_position()[1]
        if y < cut:
            artist.remove()
    ax.set_yticks(range(n - top, n), labels[n - top :])
    ax.set_ylim(cut, n - 0.5)
    return top


def intermediate(
    study, path: str, *, fmt: str = "png", dpi: float = DEFAULT_DPI, title: str = "", score: str = "accuracy"
) -> str:
    """Optuna's intermediate values: the per-epoch val_accuracy each trial reported.

    Raises:
        PlotUnavailable: no trial reported any (a multi-objective search never reports).
    """
    import optuna
    from matplotlib.ticker import MaxNLocator

    why = _unavailable(study, "intermediate")
    if why:
        raise PlotUnavailable(why)
    reported = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    with _optuna_drawing():
        ax = optuna.visualization.matplotlib.plot_intermediate_values(study)
        fig = ax.figure
        fig.set_size_inches(8, 4.5)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation {score}")
        steps = sorted({s for t in reported for s in t.intermediate_values})
        if len(steps) <= 12:  # few epochs: one tick each (a lone epoch would get ticks 0.95 ... 1.05)
            ax.set_xticks(steps)
            ax.set_xlim(steps[0] - 0.5, steps[-1] + 0.5)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        from matplotlib import colormaps, colors

        lines = [ln for ln in ax.get_lines() if str(ln.get_label()).startswith("Trial")]
        cmap = colormaps["tab20"]
        for k, ln in enumerate(lines):
            ln.set_label(f"trial {str(ln.get_label())[5:]}")
            if colors.to_hex(ln.get_color()) != "#cccccc":  # Optuna's cmap(i) gives every trial past 20 one colour
                ln.set_color(cmap(k % cmap.N))
        if len(lines) <= MAX_LEGEND_TRIALS:
            cols = 1 if len(lines) <= 10 else 2
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=cols, frameon=False)
        else:
            ax.text(
                1.0,
                -0.12,
                f"{len(lines)} trials; colours repeat every 20",
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=8,
            )
        _title(ax, title or "learning curves")
        fig.tight_layout()
        return _save(fig, path, fmt, dpi)


# ---- our own plots -----------------------------------------------------------------------------
def pareto(
    rows: Sequence, front: Sequence, path: str, *, fmt="png", dpi=DEFAULT_DPI, title: str = "", score: str = "accuracy"
) -> str:
    """Validation accuracy vs parameters of completed trials, from the ``nas_`` tables, the
    (max val_accuracy, min params) front highlighted. Used for single-objective searches:
    Optuna's Pareto plot needs a study with 2 or 3 objectives."""
    fig = _figure(7.5, 5, dpi)
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
                xytext=(5, 4),
                fontsize=7,
                color="#7a1f22",
            )
    if pts:
        _log_count_axis(ax)
        ax.margins(x=0.06, y=0.1)  # room for the trial numbers of the front
        _legend_below(ax)
    else:
        ax.text(0.5, 0.5, "no completed trials yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("parameters (log scale)")
    ax.set_ylabel(f"validation {score}")
    ax.grid(alpha=0.3, which="major")
    _title(ax, title or f"{score} vs size")
    fig.tight_layout()
    return _save(fig, path, fmt, dpi)


def _shares(rows: Sequence) -> tuple[dict[str, float], dict[str, float]]:
    """(share of nodes per op kind, mean count per architecture of merges and skips)."""
    nodes = sum(int(r.summary.get("nodes") or 0) for r in rows) or 1
    kinds = {k: sum(int(r.summary.get(k) or 0) for r in rows) / nodes for k in OP_KINDS}
    n = len(rows) or 1
    structure = {k: sum(int(r.summary.get(k) or 0) for r in rows) / n for k in ("add", "concat", "skips", "long_skips")}
    return kinds, structure


def op_frequencies(
    rows: Sequence, path: str, *, fmt="png", dpi=DEFAULT_DPI, title: str = "", top_fraction: float = 0.1
) -> str:
    """Op kinds (share of nodes) and merges/skips (per architecture): top `top_fraction` vs all.

    `rows` are leaderboard rows ranked best first.
    """
    import numpy as np

    fig = _figure(10, 4.6, dpi)
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
    k = max(1, math.ceil(len(rows) * top_fraction))
    top = list(rows[:k])
    groups = [(f"top {top_fraction:.0%} ({len(top)})", top, "#c44e52"), (f"all ({len(rows)})", list(rows), "#8c9cb8")]
    for ax, which, ylabel in ((ax1, 0, "share of nodes"), (ax2, 1, "mean per architecture")):
        labels: list[str] = []
        for g, (name, subset, color) in enumerate(groups):
            values = _shares(subset)[which]
            labels = list(values)
            x = np.arange(len(labels))
            ax.bar(x + (g - 0.5) * 0.38, [values[k] for k in labels], width=0.38, color=color, label=name)
        ax.set_xticks(np.arange(len(labels)))
        ax.set_xticklabels([k.replace("_", " ") for k in labels], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, axis="y")
        ax.margins(y=0.12)
    ax1.set_title("op kinds", fontsize=10)
    ax2.set_title("merges and skips", fontsize=10)
    if not rows:
        ax1.text(0.5, 0.5, "no completed trials yet", ha="center", va="center", transform=ax1.transAxes)
    fig.suptitle(_wrap(title or "what the best architectures use", 9.5), fontsize=11)
    handles, labels = ax1.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=2, frameon=False, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save(fig, path, fmt, dpi)


# ---- one search --------------------------------------------------------------------------------
def optuna_storage(store):
    """Optuna's storage on the store's own engine (`db.optuna_storage`): read-only when the store
    is, so plotting never writes to the database. Dispose of its engine when done."""
    import db

    return db.optuna_storage(store)


def load_study(store, search: str, storage=None):
    """The Optuna study of `search`, named by its ``nas_searches`` row, from the same database
    (through `storage`, else a new `optuna_storage(store)`).

    Raises:
        LookupError: no such search, or no such study.
    """
    import optuna

    record = store.get_search(search)
    if record is None:
        raise LookupError(f"no search named {search!r} in {store.display_url}")
    if storage is None:
        storage = optuna_storage(store)
    try:
        return optuna.load_study(study_name=record.optuna_study_name, storage=storage)
    except KeyError:
        raise LookupError(
            f"search {search!r} has no Optuna study {record.optuna_study_name!r} in {store.display_url}"
        ) from None


def _unavailable(study, kind: str) -> str | None:
    """Why `study` cannot give the plot `kind` (None: it can): checked for every kind asked
    before any is drawn, so a refused `nas plot` writes nothing."""
    if kind == "importance":
        n = len(_complete(study))
        return None if n >= 2 else f"importance needs at least 2 completed trials; this search has {n}"
    if kind == "intermediate" and not any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        why = (
            "a multi-objective search reports none (it does not prune)"
            if len(study.directions) > 1
            else "no trial has finished an epoch yet"
        )
        return f"no trial reported a per-epoch val_accuracy to Optuna: {why}"
    return None


def plot_search(
    store,
    search: str,
    out_dir: str,
    kinds: Iterable[str] | str | None = None,
    *,
    fmt: str = "png",
    dpi: float = DEFAULT_DPI,
    skip_unavailable: bool = False,
    on_skip: Callable[[str, str], None] | None = None,
) -> list[str]:
    """Write ``KIND.FMT`` into `out_dir` for each of `kinds` (default `DEFAULT_KINDS`); return
    the paths in the order of `kinds`.

    With `skip_unavailable`, a kind this search cannot give (`PlotUnavailable`: importance
    with under 2 completed trials, learning curves nobody reported) is left out and
    ``on_skip(kind, reason)`` told; otherwise it raises.

    Raises:
        ValueError: unknown kind or format, dpi under `MIN_DPI`, a search with no completed
            trial, or (without `skip_unavailable`) a `PlotUnavailable`.
        LookupError: no such search, or its Optuna study is missing.
    """
    kinds = parse_kinds(kinds)
    check_format(fmt)
    check_dpi(dpi)
    record = store.get_search(search)
    if record is None:
        raise LookupError(f"no search named {search!r} in {store.display_url}")
    if not store.count_trials(search, states=("complete", "duplicate")):
        raise ValueError(f"search {search!r} has no completed trials yet: nothing to plot")
    os.makedirs(out_dir, exist_ok=True)
    with contextlib.ExitStack() as stack:
        return _draw(store, search, record, out_dir, kinds, fmt, dpi, skip_unavailable, on_skip, stack)


def _draw(store, search, record, out_dir, kinds, fmt, dpi, skip_unavailable, on_skip, stack) -> list[str]:
    # the search's score (its first objective): accuracy, or mIoU for dense prediction (nas/search/tasks.py)
    score = "mIoU" if list(getattr(record, "objectives", None) or [""])[0] == "val_miou" else "accuracy"
    study = None
    rows = None
    paths = []
    if not skip_unavailable and any(kind in ("importance", "intermediate") for kind in kinds):
        storage = optuna_storage(store)
        stack.callback(storage.engine.dispose)
        study = load_study(store, search, storage)
        for kind in kinds:  # all or nothing: refuse before the first file is written
            why = _unavailable(study, kind)
            if why:
                raise PlotUnavailable(f"{kind}: {why}")
    for kind in kinds:
        path = os.path.join(out_dir, f"{kind}.{fmt}")
        if kind in ("pareto", "ops") and rows is None:
            rows = store.leaderboard(search)
        needs_study = kind in ("history", "importance", "intermediate") or (
            kind == "pareto" and len(record.objectives) > 1
        )
        if needs_study and study is None:
            storage = optuna_storage(store)
            stack.callback(storage.engine.dispose)
            study = load_study(store, search, storage)
        try:
            if kind == "history":
                title = f"{search}: validation {score} per completed trial"
                history(study, path, fmt=fmt, dpi=dpi, title=title, score=score)
            elif kind == "pareto" and study is not None and len(study.directions) in (2, 3):
                objectives = _objective_names(record, study)
                title = f"{search}: Pareto front of {' vs '.join(objectives)}"
                optuna_pareto(study, objectives, path, fmt=fmt, dpi=dpi, title=title, score=score)
            elif kind == "pareto":
                front = store.leaderboard(search, pareto=True)
                title = f"{search}: validation {score} vs parameters"
                pareto(rows, front, path, fmt=fmt, dpi=dpi, title=title, score=score)
            elif kind == "importance":
                importance(study, path, fmt=fmt, dpi=dpi, title=f"{search}: which choices matter for {score}")
            elif kind == "intermediate":
                title = f"{search}: validation {score} per epoch"
                intermediate(study, path, fmt=fmt, dpi=dpi, title=title, score=score)
            else:
                title = f"{search}: op kinds and merges, top 10% vs all completed trials"
                op_frequencies(rows, path, fmt=fmt, dpi=dpi, title=title)
        except PlotUnavailable as e:
            if not skip_unavailable:
                raise PlotUnavailable(f"{kind}: {e}") from None
            if on_skip is not None:
                on_skip(kind, str(e))
            continue
        paths.append(path)
    return paths
