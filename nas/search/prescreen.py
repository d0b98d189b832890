"""`--prescreen K`: score K candidate architectures with a zero-cost proxy, train the best.

Each candidate is an Optuna trial of its own. The driver asks K trials, samples their
architectures, scores each untrained network on one batch of the training split
(`workers.proxies`: naswot by default) and trains only the best; the others are recorded as
'screened' (told to Optuna as pruned, with the scores as user attributes), so the sampler sees
them and the database says why they were not trained. Screened trials do not count towards
`--trials`: that budget stays the number of trained (or reused) architectures.

Scoring runs in the driver process on the CPU, with the candidate built at initialisation: for
the default space it costs a fraction of a trial (bench/proxies.py measures it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nas.ir import Arch

if TYPE_CHECKING:
    from workers.datasets import Dataset

#: Images in the batch a proxy scores a candidate on.
PROXY_BATCH = 64


def proxy_batch(data: Dataset, seed: int):
    """One batch of training images, normalised with the training statistics (a float tensor)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data.train), generator=g)[:PROXY_BATCH]
    x = data.train.x[idx].float()
    if data.train.x.dtype == torch.uint8:
        x = x / 255
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    return (x - mean) / std


def scores(archs: Sequence[Arch], proxy: str, batch, classes: int, seed: int) -> list[float]:
    """The proxy's score of each architecture, built at initialisation (seeded): higher is better."""
    import torch

    from nas.ir import build
    from workers.proxies import score

    out = []
    shape = tuple(batch.shape[1:])
    for arch in archs:
        torch.manual_seed(seed)
        model = build(arch, shape, classes)  # type: ignore[arg-type]
        out.append(score(proxy, model, batch))
    return out
