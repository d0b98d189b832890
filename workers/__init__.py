"""What runs on a worker: datasets, the training loop, the executors (in-process and Ray).

`workers.records` holds the torch-free records that cross the process boundary; the rest is the
torch side. It never writes to the database.

Lives here: the records (`records`), datasets and their registry (`datasets`), the training loop
(`trainer`), one trial on a worker (`runner`), the executors (`executor`, `ray_executor`).
May import: `nas.ir` and the root `nas`; never `db`, `search_spaces`, `nas.search` or anything above.
"""
