"""`nas.leaderboard`: the ranked trials of a search for Python, as `nas leaderboard` shows them.

Rows are plain dicts (the fields of `db.LeaderboardRow`), or a pandas DataFrame with
`as_frame=True`, as Optuna's `Study.trials_dataframe`. pandas is optional.
"""

from __future__ import annotations

import dataclasses
from typing import Any

PANDAS_HINT = "nas.leaderboard(..., as_frame=True) needs pandas: pip install pandas"


def leaderboard(
    db: str | None = None,
    search: str | None = None,
    *,
    top: int | None = None,
    sort: str = "val_accuracy",
    pareto: bool = False,
    all_searches: bool = False,
    as_frame: bool = False,
) -> Any:
    """Ranked trials of `search` (None: the database's only search; `all_searches`: every search).

    Args:
        db: SQLAlchemy URL (default: $NAS_DB if set, else sqlite:///nas.db).
        top, sort, pareto: as `nas leaderboard --top/--sort/--pareto`.
        as_frame: return a pandas DataFrame (one row per trial) instead of a list of dicts.

    Raises:
        ImportError: `as_frame=True` without pandas (the message says `pip install pandas`).
        LookupError, ValueError: no such search, several and none named, a bad sort or top.
    """
    import db as database
    from nas.final.evaluate import resolve_search
    from nas.search.config import default_db

    if as_frame:
        try:
            import pandas as pd
        except ImportError as e:
            raise ImportError(PANDAS_HINT) from e
    store = database.connect(db or default_db(), read_only=True)
    name = None if all_searches else resolve_search(store, search, allow_all=True)
    rows = [dataclasses.asdict(r) for r in store.leaderboard(name, top=top, sort=sort, pareto=pareto)]
    if not as_frame:
        return rows
    columns = [f.name for f in dataclasses.fields(database.LeaderboardRow)]
    return pd.DataFrame(rows, columns=columns)
