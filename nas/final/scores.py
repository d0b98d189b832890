"""The name of a search's score, for every command that shows results (no torch).

A search maximises one validation number, its first objective (`nas.search.tasks`): accuracy
for a classifier, mIoU (mean intersection-over-union) for dense prediction. The database and the
records keep one field for it (``val_accuracy``, and ``test_accuracy`` for `nas evaluate`'s
runs); the search's stored objectives say which it is, and `Score` gives the words to show.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Score:
    """How to name a search's score: `short` in column names (``val_acc``), `words` in text."""

    objective: str  # the search's first objective: val_accuracy or val_miou
    short: str  # acc | miou
    words: str  # accuracy | mIoU

    @property
    def val(self) -> str:
        return f"val_{self.short}"

    @property
    def test(self) -> str:
        return f"test_{self.short}"


ACCURACY = Score("val_accuracy", "acc", "accuracy")
MIOU = Score("val_miou", "miou", "mIoU")


def score_of(objectives: Sequence[str] | None) -> Score:
    """The score of a search with these objectives (stored or configured)."""
    return MIOU if objectives and objectives[0] == MIOU.objective else ACCURACY


def search_score(store, searches: str | Iterable[str] | None) -> Score:
    """The score of a search, or of several shown together (mIoU only when every one of them is
    dense; None: every search of the database)."""
    if searches is None:
        names = [s.name for s in store.list_searches()]
    elif isinstance(searches, str):
        names = [searches]
    else:
        names = list(searches)
    scores = set()
    for name in names:
        rec = store.get_search(name)
        scores.add(score_of(list(getattr(rec, "objectives", None) or ())))
    return MIOU if scores == {MIOU} else ACCURACY
