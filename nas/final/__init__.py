"""After the search: selection helpers, the final protocol, `nas evaluate` and export.

May import `nas.search`'s records, `db`, `workers`, `search_spaces` and `nas.ir`; never the CLI.
Torch is imported only inside the functions that train or load a model.
"""
