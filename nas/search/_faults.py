"""Fault injection for the tests: stop the search driver at a named point, deterministically.

    NAS_FAULT_POINT=record.rows:2 nas search ...          # SIGKILL itself the 2nd time it gets there
    NAS_FAULT_POINT=epoch:1:SIGTERM nas search ...        # or send itself another signal

The driver calls `point(name)` at the places in `POINTS`. When ``NAS_FAULT_POINT`` is
``NAME:COUNT[:SIGNAL]``, the COUNT-th call of `point(NAME)` in this process sends SIGNAL
(default SIGKILL) to this very process: a crash exactly there, mid-transaction included, as
tests/faults/ needs. Unset (the normal case) `point` returns at once: one function call that
compares a module constant with None. The variable is read once, at import; a bad value
raises `ValueError` naming it, so a typo cannot silently test nothing.
"""

from __future__ import annotations

import os
import signal

ENV = "NAS_FAULT_POINT"

#: Every point the driver marks (nas/search/driver.py), in the order a trial meets them.
POINTS = {
    "search.opened": "the search row is written and claimed; Optuna's study not yet opened",
    "recover": "inside the recovery transaction: left-over trials marked, Optuna not yet told",
    "ask": "Optuna has a new RUNNING trial; nothing of it in the nas_ tables",
    "trial.started": "the nas_ trial row is 'running'; the job not yet submitted",
    "epoch": "an epoch's metrics are stored; the trial still training",
    "record.begin": "inside the record transaction, nothing written yet",
    "record.rows": "inside the record transaction: the nas_ trial row written, Optuna not told",
    "record.weights": "inside the record transaction: the weights written too, Optuna not told",
    "record.told": "inside the record transaction: Optuna told, not yet committed",
    "record.committed": "the record transaction committed",
    "duplicate": "a repeat of a completed architecture, before it is recorded",
    "pruned_again": "a repeat of a pruned architecture, its curve reported to Optuna, not recorded",
    "release": "every trial done, the search not yet released (still 'running')",
}


def _parse(value: str | None) -> tuple[str, int, int] | None:
    if not value:
        return None
    name, _, rest = value.partition(":")
    count, _, sig = rest.partition(":")
    try:
        if name not in POINTS or not count.isdigit() or int(count) < 1:
            raise ValueError
        signum = int(getattr(signal, sig.upper() or "SIGKILL")) if not sig.isdigit() else int(sig)
    except (ValueError, AttributeError, TypeError):
        raise ValueError(
            f"{ENV}={value!r}: use NAME:COUNT[:SIGNAL] with NAME one of {', '.join(POINTS)}, COUNT >= 1 "
            "and SIGNAL e.g. SIGKILL (the default) or SIGTERM"
        ) from None
    return name, int(count), signum


_ARMED = _parse(os.environ.get(ENV))
_seen = 0


def point(name: str) -> None:
    """Mark fault point `name` (one of `POINTS`); see the module docstring."""
    if _ARMED is None:
        return
    global _seen
    assert name in POINTS, name
    target, count, signum = _ARMED
    if name == target:
        _seen += 1
        if _seen == count:
            os.kill(os.getpid(), signum)
