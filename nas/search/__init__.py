"""The search: its config (`SearchConfig`), strategy (samplers, pruners) and the driver (`Search`).

Lives here: the search's definition (`config`), samplers and pruners by name (`strategy`), and the
driver that asks, dedupes, dispatches and records every trial (`driver`), with what it writes into
Optuna's records (`trial_attrs`) and the trackers it feeds (`tracking`: TensorBoard, MLflow).
May import: `db`, `workers` (its torch-free records; the executors lazily), `search_spaces`,
`nas.ir` and the root `nas` (`nas.version`); never `nas.final`, `nas.viz` or the CLI.
Importing it loads no torch.
"""
