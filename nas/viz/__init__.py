"""Pictures: architecture drawings (`draw`) and search plots (`plots`), with matplotlib.

Lives here: drawings and compact summaries of one architecture (`draw`), the plots of a search
(`plots`).
May import: `db`, `workers`, `search_spaces`, `nas.ir` and the root `nas` (today it uses `nas.ir`,
and `db` lazily); never `nas.search`, `nas.final` or the CLI; never torch.
"""
