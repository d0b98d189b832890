"""What the driver writes into Optuna's own records, so Optuna's tools (optuna-dashboard,
`study.trials_dataframe()`, `optuna.visualization`) show a search without our tables.

- `name_metrics(study, objectives)`: `study.set_metric_names`, the search's objectives by name
  (``val_accuracy``, ``params``, ``flops``), on every study, new or resumed.
- `set_arch_attrs(trial, ...)`: per trial, when its architecture is known: ``arch_hash``,
  ``params``, ``flops`` and ``arch`` (the canonical architecture JSON, as text).
- `set_outcome_attrs(trial, ...)`: per trial, when it is recorded: ``epochs`` (epochs completed),
  ``epochs_asked``, ``fidelity`` (epochs completed / epochs asked), ``train_seconds``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import optuna

#: Every user attribute this module sets, in the order it sets them.
ARCH_ATTRS = ("arch_hash", "params", "flops", "arch")
OUTCOME_ATTRS = ("epochs", "epochs_asked", "fidelity", "train_seconds")


def name_metrics(study: optuna.Study, objectives: Sequence[str]) -> None:
    """Name the study's objective values after the search's objectives (idempotent)."""
    names = list(objectives)
    if study.metric_names == names:
        return  # a resumed study: nothing to write
    with warnings.catch_warnings():  # experimental since Optuna 3.2, and the API Optuna's tools read
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(names)


def set_arch_attrs(trial: optuna.trial.BaseTrial, arch_hash: str, arch_json: str, params: int, flops: int) -> None:
    """The trial's architecture: its hash, cost (for the search's input shape) and JSON."""
    trial.set_user_attr("arch_hash", arch_hash)
    trial.set_user_attr("params", int(params))
    trial.set_user_attr("flops", int(flops))
    trial.set_user_attr("arch", arch_json)


def set_outcome_attrs(trial: optuna.trial.BaseTrial, fields: Mapping[str, Any], epochs_asked: int) -> None:
    """How far the trial trained, from the fields its `nas_trials` row records: nothing when it
    did not train (an infeasible sample, a duplicate of another trial's result)."""
    epochs = fields.get("epochs_run")
    if epochs is None:
        return
    trial.set_user_attr("epochs", int(epochs))
    trial.set_user_attr("epochs_asked", int(epochs_asked))
    trial.set_user_attr("fidelity", round(int(epochs) / epochs_asked, 6) if epochs_asked else None)
    seconds = fields.get("train_seconds")
    if seconds is not None:
        trial.set_user_attr("train_seconds", round(float(seconds), 3))
