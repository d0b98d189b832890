"""What runs on a worker: datasets, the training loop and the Ray side. Never writes to the database."""
