"""The `Store`: every read and write of the project's tables goes through it.

Only the search driver writes; readers (leaderboard, show, export) share the database through
a read-only Store (`db.connect(url, read_only=True)`), which never creates, migrates or writes. Each
method runs in its own session (one transaction, or the open `Store.transaction()`) and returns
frozen records from `db._records`, never ORM rows. The methods live with their concept:
`db._searches`, `db._trials` (architectures, trials, epochs), `db._artifacts` (weights, final
evaluations); the ranking is here.
"""

from __future__ import annotations

from collections.abc import Iterable

from db import _leaderboard
from db._artifacts import Artifacts
from db._convert import check_states
from db._records import SORT_KEYS, LeaderboardRow
from db._searches import Searches
from db._trials import Trials


class Store(Searches, Trials, Artifacts):
    """Typed access to the project's tables. Create with `db.connect(url)`."""

    def __enter__(self) -> Store:
        return self

    # leaderboard

    def leaderboard(
        self,
        search_name: str | None = None,
        *,
        top: int | None = None,
        sort: str = "val_accuracy",
        states: Iterable[str] | str = ("complete",),
        pareto: bool = False,
    ) -> list[LeaderboardRow]:
        """Ranked trials of one search (None: all searches).

        Args:
            top: keep the first `top` rows (after the Pareto filter).
            sort: one of `SORT_KEYS`; accuracies sort descending, costs ascending, missing
                values last.
            states: trial states to include. Duplicates are never rows of their own: the trial
                they reuse is already a row. The exception is a duplicate whose original lies in
                another search: in a single-search leaderboard it stands in (state 'duplicate')
                for that result.
            pareto: keep only rows not dominated on (max val_accuracy, min params).

        Raises:
            ValueError: unknown sort key or state, or a `top` below 1.
            NotFoundError: no search of that name.
        """
        if sort not in SORT_KEYS:
            raise ValueError(f"unknown sort key {sort!r}; valid: {', '.join(SORT_KEYS)}")
        if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
            raise ValueError(f"top must be a positive integer, got {top!r}")
        states = check_states(states) or ()
        with self._session() as s:
            search = None if search_name is None else self._search(s, search_name)
            return _leaderboard.leaderboard(s, search, top=top, sort=sort, states=states, pareto=pareto)
