"""Read-side queries: the leaderboard and the per-search summaries.

Duplicates are never leaderboard rows of their own (they reuse another trial's result), with
one exception: in a single-search leaderboard, a duplicate whose original lies in another search
stands in for that result (state 'duplicate'), since the search did find that architecture.

Params and FLOPs are each row's search's: the architecture's cost for that search's input shape
and class count (nas_architecture_costs), else the architecture's own columns.
"""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from db._convert import aware, cost_join, loads
from db._models import ArchitectureCostModel, ArchitectureModel, SearchModel, TrialModel
from db._records import SORT_KEYS, TRIAL_STATES, LeaderboardRow, SearchOverview

_ROW_FIELDS = frozenset(LeaderboardRow.__dataclass_fields__) - {"rank"}


def leaderboard(
    s: Session,
    search: SearchModel | None,
    *,
    top: int | None,
    sort: str,
    states: tuple[str, ...],
    pareto: bool,
) -> list[LeaderboardRow]:
    """Ranked rows of one search (None: all); arguments are validated by `Store.leaderboard`."""
    states = tuple(state for state in states if state != "duplicate")
    query = (
        sa.select(TrialModel, SearchModel.name, ArchitectureModel, *_COST)
        .join(SearchModel, TrialModel.search_id == SearchModel.id)
        .join(ArchitectureModel, TrialModel.architecture_id == ArchitectureModel.id)
        .outerjoin(ArchitectureCostModel, cost_join(SearchModel))
        .where(TrialModel.state.in_(states))
    )
    if search is not None:
        query = query.where(TrialModel.search_id == search.id)
    rows = [_row(t, name, arch, t, cost) for t, name, arch, *cost in s.execute(query)]
    if search is not None and states:
        rows += _foreign_duplicates(s, search, states, {r["arch_id"] for r in rows})

    descending = SORT_KEYS[sort]

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        # Missing values last; ties by val accuracy, then fewer params, then search and number.
        value, val = r[sort], r["val_accuracy"]
        primary = 0.0 if value is None else (-value if descending else value)
        return (value is None, primary, val is None, -(val or 0.0), r["params"], r["search"], r["trial"])

    rows.sort(key=key)
    if pareto:
        survivors = {id(r) for r in _pareto(rows)}
        rows = [r for r in rows if id(r) in survivors]
    if top is not None:
        rows = rows[:top]
    return [
        LeaderboardRow(rank=i, **{k: v for k, v in r.items() if k in _ROW_FIELDS}) for i, r in enumerate(rows, start=1)
    ]


# The params and FLOPs of a row: for its search's input shape where stored.
_COST = (
    sa.func.coalesce(ArchitectureCostModel.params, ArchitectureModel.params),
    sa.func.coalesce(ArchitectureCostModel.flops, ArchitectureModel.flops),
)


def _row(
    t: TrialModel, search: str, arch: ArchitectureModel, result: TrialModel, cost: list[int] | tuple[int, ...]
) -> dict[str, Any]:
    """Row values for trial `t`; metrics it lacks come from `result` (itself, or the original
    trial a duplicate reuses); `cost` is (params, flops) for the search's input shape."""
    test = t if (t.test_seeds > 0 or result is t) else result
    return {
        "arch_id": arch.id,
        "search": search,
        "trial": t.optuna_number,
        "hash": arch.hash,
        "val_accuracy": t.val_accuracy if t.val_accuracy is not None else result.val_accuracy,
        "best_val_accuracy": (t.best_val_accuracy if t.best_val_accuracy is not None else result.best_val_accuracy),
        "test_accuracy": test.test_accuracy_mean,
        "test_std": test.test_accuracy_std,
        "test_seeds": test.test_seeds,
        "params": cost[0],
        "flops": cost[1],
        "epochs_run": t.epochs_run if t.epochs_run is not None else result.epochs_run,
        "train_seconds": result.train_seconds,
        "state": t.state,
        "summary": loads(arch.summary),
        "canonical_json": arch.canonical_json,
    }


def _foreign_duplicates(
    s: Session, search: SearchModel, states: tuple[str, ...], present: set[int]
) -> list[dict[str, Any]]:
    """Rows for the search's duplicates of trials in other searches, one per architecture not
    already among its rows."""
    orig = aliased(TrialModel)
    query = (
        sa.select(TrialModel, orig, ArchitectureModel, *_COST)
        .join(orig, TrialModel.duplicate_of == orig.id)
        .join(ArchitectureModel, TrialModel.architecture_id == ArchitectureModel.id)
        .outerjoin(ArchitectureCostModel, cost_join(search))
        .where(
            TrialModel.search_id == search.id,
            TrialModel.state == "duplicate",
            orig.search_id != search.id,
            orig.state.in_(states),
        )
        .order_by(TrialModel.optuna_number)
    )
    rows = []
    for dup, original, arch, *cost in s.execute(query):
        if arch.id not in present:
            present.add(arch.id)
            rows.append(_row(dup, search.name, arch, original, cost))
    return rows


def _pareto(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows not dominated on (max val_accuracy, min params); rows missing either are dropped.

    Sweep by params ascending: a row survives when its accuracy is the best among rows of equal
    params and strictly above every row with fewer params. Exact ties all survive.
    """
    rows = sorted(
        (r for r in rows if r["val_accuracy"] is not None and r["params"] is not None),
        key=lambda r: (r["params"], -r["val_accuracy"]),
    )
    kept: list[dict[str, Any]] = []
    best_smaller = -math.inf  # best accuracy among rows with strictly fewer params
    i = 0
    while i < len(rows):
        j = i
        while j < len(rows) and rows[j]["params"] == rows[i]["params"]:
            j += 1
        group_best = rows[i]["val_accuracy"]
        if group_best > best_smaller:
            kept.extend(r for r in rows[i:j] if r["val_accuracy"] == group_best)
            best_smaller = group_best
        i = j
    return kept


def search_summaries(s: Session) -> list[SearchOverview]:
    """Every search, oldest first, with trial counts per state and best accuracies.

    The best trial is the best by validation accuracy; its test accuracy (from `nas evaluate`) is
    shown with it. Best accuracies are over complete trials and duplicates (a duplicate reuses the result of
    the trial it points to, possibly in another search); pruned trials' partial results do not
    count.
    """
    orig = aliased(TrialModel)
    searches = s.scalars(sa.select(SearchModel).order_by(SearchModel.id)).all()
    counts = {r.id: dict.fromkeys(TRIAL_STATES, 0) for r in searches}
    for search_id, state, n in s.execute(
        sa.select(TrialModel.search_id, TrialModel.state, sa.func.count()).group_by(
            TrialModel.search_id, TrialModel.state
        )
    ):
        counts[search_id][state] = n
    # the best trial by validation (ties: the earliest), and that trial's test accuracy: the
    # test number shown is never the best of several test numbers, which would choose on test
    best: dict[int, tuple[float | None, float | None]] = {}
    for search_id, val, test in s.execute(
        sa.select(
            TrialModel.search_id,
            sa.func.coalesce(TrialModel.val_accuracy, orig.val_accuracy),
            sa.func.coalesce(TrialModel.test_accuracy_mean, orig.test_accuracy_mean),
        )
        .outerjoin(orig, TrialModel.duplicate_of == orig.id)
        .where(TrialModel.state.in_(("complete", "duplicate")))
        .order_by(TrialModel.search_id, TrialModel.optuna_number)
    ):
        held = best.get(search_id)
        if val is not None and (held is None or held[0] is None or val > held[0]):
            best[search_id] = (val, test)
    return [
        SearchOverview(
            name=r.name,
            space=r.space,
            dataset=r.dataset,
            created_at=aware(r.created_at),
            updated_at=aware(r.updated_at),
            status=r.status,
            counts=counts[r.id],
            n_trials=sum(counts[r.id].values()),
            best_val_accuracy=best.get(r.id, (None, None))[0],
            best_test_accuracy=best.get(r.id, (None, None))[1],
        )
        for r in searches
    ]
