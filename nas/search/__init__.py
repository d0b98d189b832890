"""The search: its config (`SearchConfig`), strategy (samplers, pruners) and the driver (`Search`).

May import `db`, `workers` (its torch-free records; the executors lazily), `search_spaces` and
`nas.ir`; never the CLI. Importing it loads no torch.
"""
