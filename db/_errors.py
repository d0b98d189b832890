"""The exceptions `db` raises; each message is one line a user can act on."""

from __future__ import annotations

from collections.abc import Sequence


class DatabaseError(Exception):
    """A database problem the user can fix; the message is one line naming the URL and the fix.

    `needs_writer`: the database is only missing or behind (no file yet, no ``nas_`` tables, an
    older schema): a writing `db.connect` would create or migrate it, a read-only one refuses.
    """

    def __init__(self, message: str, *, url: str | None = None, needs_writer: bool = False) -> None:
        super().__init__(message)
        self.url = url
        self.needs_writer = needs_writer


class NotFoundError(LookupError):
    """A named search, architecture or trial is not in the database."""


class AmbiguousHashError(LookupError):
    """A short hash prefix matches more than one architecture; `candidates` lists them."""

    def __init__(self, prefix: str, candidates: Sequence[str]) -> None:
        self.prefix = prefix
        self.candidates = tuple(candidates)
        shown = ", ".join(candidates[:10]) + (", ..." if len(candidates) > 10 else "")
        super().__init__(
            f"hash prefix {prefix!r} matches {len(candidates)} architectures ({shown}); give more characters"
        )
