"""After the search: selection helpers, the final protocol, `nas evaluate` and export.

Lives here: the final protocol (`protocol`), selection helpers and `nas evaluate` (`evaluate`),
and export of a standalone module with its weights (`export`).
May import: `db`, `workers`, `search_spaces`, `nas.ir`, the root `nas`, and of `nas.search` only
`nas.search.config`; never `nas.viz` or the CLI.
Torch is imported only inside the functions that train or load a model.
"""
