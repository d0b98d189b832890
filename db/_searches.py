"""Searches: one row per `nas search --name`, with its config and status."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from db import _leaderboard
from db._base import StoreBase
from db._convert import (
    check_choice,
    check_shape,
    dumps,
    search_record,
    search_shape,
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
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
        driver: str | None = None,
    ) -> SearchRecord:
        """Create the search `name` with status 'running', or return it unchanged if it exists.

        A new search is claimed by `driver` (see `claim_search`) when one is given.

        The caller compares the returned record's config with its own to decide whether
        resuming is allowed. `input_shape`/`num_classes` (both or neither) are the data's, as
        `set_search_shape` records them; they are only stored when the search is new.
        """
        shape = None
        if input_shape is not None or num_classes is not None:
            if input_shape is None or num_classes is None:
                raise ValueError("give input_shape and num_classes together")
            shape = check_shape(input_shape, num_classes)
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
                driver=driver,
                heartbeat_at=None if driver is None else utcnow(),
            )
            if shape is not None:
                (row.input_channels, row.input_height, row.input_width), row.num_classes = shape
            s.add(row)
            s.flush()
            return search_record(row)

    def get_search(self, name: str) -> SearchRecord | None:
        with self._session() as s:
            row = s.scalar(sa.select(SearchModel).where(SearchModel.name == name))
            return None if row is None else search_record(row)

    def set_search_shape(self, name: str, input_shape: Sequence[int], num_classes: int) -> SearchRecord:
        """Record the input shape (C, H, W) and class count of the search's data: the
        leaderboard reports each architecture's params and FLOPs for them (`add_cost`).

        The same values again are a no-op (a resumed search).

        Raises:
            NotFoundError: no search of that name.
            ValueError: not positive integers, or the search already has another shape (its
                trials' costs were counted for that one).
        """
        (c, h, w), k = check_shape(input_shape, num_classes)
        with self._session() as s:
            row = self._search(s, name)
            stored = search_shape(row)
            if stored is not None and (stored, row.num_classes) != ((c, h, w), k):
                raise ValueError(
                    f"search {name!r} was recorded with input shape {'x'.join(map(str, stored))} and "
                    f"{row.num_classes} classes, not {c}x{h}x{w} and {k}; resume it on the same data or pick a new name"
                )
            if stored is None:
                row.input_channels, row.input_height, row.input_width, row.num_classes = c, h, w, k
                row.updated_at = utcnow()
            s.flush()
            return search_record(row)

    # which driver runs a search

    def claim_search(
        self, name: str, driver: str, *, stale_after_s: float, steal_from: str | None = None
    ) -> tuple[str, float | None] | None:
        """Make `driver` the one process running search `name`, atomically (one conditional
        UPDATE, so of two processes racing for it exactly one wins).

        The claim succeeds when the search has no driver, is already `driver`'s, its driver's
        heartbeat is older than `stale_after_s`, or its driver is `steal_from` (the caller has
        checked that that process is dead). The status becomes 'running'.

        Returns:
            None when `driver` holds the claim; else (the holder, seconds since its heartbeat).
        """
        now = utcnow()
        cutoff = now - dt.timedelta(seconds=stale_after_s)
        free = sa.or_(
            SearchModel.driver.is_(None),
            SearchModel.driver == driver,
            SearchModel.heartbeat_at.is_(None),
            SearchModel.heartbeat_at < cutoff,
        )
        if steal_from is not None:
            free = sa.or_(free, SearchModel.driver == steal_from)
        with self._session() as s:
            self._search(s, name)
            claimed = s.execute(
                sa.update(SearchModel)
                .where(SearchModel.name == name, free)
                .values(driver=driver, heartbeat_at=now, status="running", updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(claimed, "rowcount", 0) == 1:
                return None
            holder, beat = s.execute(
                sa.select(SearchModel.driver, SearchModel.heartbeat_at).where(SearchModel.name == name)
            ).one()
            age = None if beat is None else (now - beat).total_seconds()
            return str(holder), age

    def heartbeat_search(self, name: str, driver: str) -> bool:
        """Say that `driver` still runs search `name`; False when it no longer holds the claim."""
        with self._session() as s:
            done = s.execute(
                sa.update(SearchModel)
                .where(SearchModel.name == name, SearchModel.driver == driver)
                .values(heartbeat_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            return getattr(done, "rowcount", 0) == 1

    def release_search(self, name: str, driver: str, status: str) -> None:
        """End `driver`'s claim on search `name`, leaving it in `status` (not 'running')."""
        check_choice(status, SEARCH_STATUSES, "search status")
        if status == "running":
            raise ValueError("a released search is not 'running'; give finished, interrupted or failed")
        with self._session() as s:
            s.execute(
                sa.update(SearchModel)
                .where(SearchModel.name == name, SearchModel.driver == driver)
                .values(driver=None, heartbeat_at=None, status=status, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )

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
