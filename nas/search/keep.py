"""Which trials keep their weights: `--save-weights top:K|all|none`.

By default (`top:5`) a search stores the weights of its K best trials by the ranking every
final command uses (`nas.final.evaluate.validation_key`: higher validation accuracy, then the
search's other objectives, then fewer parameters, then the lower trial number). A trial that
enters the top K has its weights stored; the weights of the trial it pushes out are deleted in
the same transaction (`Search._record`). The others can be retrained on demand:
`nas export` trains a trial without stored weights with the final protocol (`--retrain`).

Pure Python, no database and no torch: the driver feeds it and writes what it decides.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

#: The default policy, and the choices `--help` and shell completion show.
DEFAULT = "top:5"
CHOICES = ("top:K", "all", "none")


class SaveWeightsError(ValueError):
    """A bad `--save-weights` value; the message names it and the choices."""


def parse_save_weights(value: str) -> int | None:
    """'top:K' -> K (>= 1), 'all' -> None (no limit), 'none' -> 0.

    Raises:
        SaveWeightsError: anything else.
    """
    text = str(value).strip().lower()
    if text == "all":
        return None
    if text == "none":
        return 0
    m = re.fullmatch(r"top:(\d+)", text)
    if m and int(m.group(1)) >= 1:
        return int(m.group(1))
    raise SaveWeightsError(f"--save-weights {value!r} is not one of: top:K (e.g. {DEFAULT}, K >= 1), all, none")


def rank_key(val_accuracy: float, costs: Sequence[float | int | None], params: int | None, number: int) -> tuple:
    """Sort key of one completed trial of a search, best first; `costs` are the values of the
    search's objectives after val_accuracy (params, flops), in order. The same order as
    `nas.final.evaluate.validation_key` for the trials of one search."""
    key: list = [-val_accuracy]
    for c in costs:
        key += [c is None, c or 0]
    key += [params is None, params or 0, number]
    return tuple(key)


@dataclass(frozen=True)
class Decision:
    """What to write for one completed trial: store its weights or not, and whose to delete."""

    store: bool
    delete: tuple[int, ...] = ()


@dataclass
class WeightKeeper:
    """The top-K ranking of one search's completed (trained) trials and who holds weights.

    `keep`: K, None for every trial (`all`), 0 for none. `held`: ids of the trials whose
    weights are stored now. Only the best K keys are remembered: a trial that falls out of the
    top K never comes back, since keys do not change.
    """

    keep: int | None
    held: set[int] = field(default_factory=set)
    _top: list[tuple[tuple, int]] = field(default_factory=list)  # (key, trial id), best first, at most K

    @classmethod
    def load(cls, keep: int | None, ranked: Iterable[tuple[tuple, int]], held: Iterable[int]) -> WeightKeeper:
        """A keeper for a resumed search: `ranked` are (key, trial id) of its completed trials."""
        keeper = cls(keep, set(held))
        if keep:
            keeper._top = sorted(ranked)[:keep]
        return keeper

    def offer(self, trial_id: int, key: tuple) -> Decision:
        """Whether a newly completed trial keeps its weights and whose weights go; nothing changes
        until `accept` (call it once the decision is committed)."""
        if self.keep is None:
            return Decision(True)
        if self.keep == 0:
            return Decision(False)
        top = list(self._top)
        bisect.insort(top, (key, trial_id))
        top = top[: self.keep]
        kept = {tid for _, tid in top}
        if trial_id not in kept:
            return Decision(False)
        return Decision(True, tuple(sorted(self.held - kept)))

    def accept(self, trial_id: int, key: tuple, decision: Decision) -> None:
        """Apply a committed `offer`."""
        if self.keep:
            bisect.insort(self._top, (key, trial_id))
            del self._top[self.keep :]
        if decision.store:
            self.held.add(trial_id)
        self.held.difference_update(decision.delete)


def keeper_for(store, search_name: str, objectives: Sequence[str], save_weights: str) -> WeightKeeper:
    """The keeper of a search being opened (or resumed), from what `store` holds: its completed
    trained trials (duplicates hold no weights of their own) and the trials with stored weights."""
    keep = parse_save_weights(save_weights)
    if not keep:  # all or none: nothing to rank
        return WeightKeeper(keep)
    ranked = [
        (rank_key(t.val_accuracy, [getattr(t, o) for o in objectives[1:]], t.params, t.optuna_number), t.id)
        for t in store.trials(search_name, states="complete")
        if t.val_accuracy is not None and t.duplicate_of is None
    ]
    return WeightKeeper.load(keep, ranked, store.trials_with_artifact(search_name, "weights"))
