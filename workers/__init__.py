"""What runs on a worker: datasets, the training loop, the executors (in-process and Ray).

`workers.records` holds the torch-free records that cross the process boundary; the rest is the
torch side. May import `nas.ir`; never writes to the database, never imports `db` or `nas.search`.
"""
