"""What the progress bar shows, kept up to date as trials are recorded: no rescan per outcome.

`Search` loads a `Tally` once when its bar starts (one read of the search's trials and of its
best row) and then adds each recorded trial, so the bar costs O(1) per outcome instead of a scan
of every trial (quadratic over a search).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: States whose trials count for the best result (a duplicate reuses a completed trial's).
_SCORED = ("complete", "duplicate")


@dataclass
class Tally:
    """Trials by final state, and the best validation accuracy so far."""

    counts: dict[str, int] = field(default_factory=dict)
    best: float | None = None

    @classmethod
    def load(cls, store, search_name: str) -> Tally:
        """The tally of what `store` holds for the search now (trials still running excluded)."""
        counts: dict[str, int] = {}
        for t in store.trials(search_name):
            if t.state != "running":
                counts[t.state] = counts.get(t.state, 0) + 1
        rows = store.leaderboard(search_name, top=1)
        return cls(counts, rows[0].val_accuracy if rows else None)

    def add(self, state: str, val_accuracy: float | None = None) -> None:
        """One trial recorded with its final `state` (and its result, when it has one)."""
        self.counts[state] = self.counts.get(state, 0) + 1
        if state in _SCORED and val_accuracy is not None and (self.best is None or val_accuracy > self.best):
            self.best = val_accuracy
