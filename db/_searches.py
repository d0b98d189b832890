"""Searches: one row per `nas search --name`, with its config and status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from db import _leaderboard
from db._base import StoreBase
from db._convert import (
    check_choice,
    dumps,
    search_record,
)
from db._models import (
    SearchModel,
    utcnow,
)
from db._records import (
    SEARCH_STATUSES,
    SearchOverview,
    SearchRecord,
)


class Searches(StoreBase):
    """The `Store`'s methods for searches: create, look up, set status, list."""

    # searches

    def create_or_get_search(
        self,
        name: str,
        *,
        space: str,
        space_options: dict[str, Any],
        dataset: str,
        train_config: dict[str, Any],
        objectives: Sequence[str],
        config: dict[str, Any],
        code_version: str,
        optuna_study_name: str,
    ) -> SearchRecord:
        """Create the search `name` with status 'running', or return it unchanged if it exists.

        The caller compares the returned record's config with its own to decide whether
        resuming is allowed.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"search name must be a non-empty string, got {name!r}")
        if isinstance(objectives, str) or not all(isinstance(o, str) for o in objectives):
            raise ValueError(f"objectives must be a list of strings, got {objectives!r}")
        with self._session() as s:
            existing = s.scalar(sa.select(SearchModel).where(SearchModel.name == name))
            if existing is not None:
                return search_record(existing)
            row = SearchModel(
                name=name,
                space=space,
                space_options=dumps(space_options, "space_options"),
                dataset=dataset,
                train_config=dumps(train_config, "train_config"),
                objectives=dumps(list(objectives), "objectives"),
                config=dumps(config, "config"),
                status="running",
                code_version=code_version,
                optuna_study_name=optuna_study_name,
            )
            s.add(row)
            s.flush()
            return search_record(row)

    def get_search(self, name: str) -> SearchRecord | None:
        with self._session() as s:
            row = s.scalar(sa.select(SearchModel).where(SearchModel.name == name))
            return None if row is None else search_record(row)

    def set_search_status(self, name: str, status: str) -> None:
        """Set a search's status: one of `SEARCH_STATUSES`."""
        check_choice(status, SEARCH_STATUSES, "search status")
        with self._session() as s:
            row = self._search(s, name)
            row.status = status
            row.updated_at = utcnow()

    def list_searches(self) -> list[SearchOverview]:
        """Every search, oldest first, with trial counts per state (duplicates and infeasible
        samples included) and the best val and test accuracies."""
        with self._session() as s:
            return _leaderboard.search_summaries(s)
