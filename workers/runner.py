"""Run one trial on a worker: compile the arch, train it, return plain results (never write the DB)."""

from __future__ import annotations

import os
import socket
import traceback
from collections.abc import Callable

import torch

from nas.ir import Arch, build
from workers.datasets import Dataset
from workers.records import EpochMetrics, TrialJob, TrialOutcome


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def state_dict_bytes(model: torch.nn.Module, metadata: dict[str, str] | None = None) -> bytes:
    """The weights as safetensors bytes (no pickle anywhere), with optional string metadata."""
    from safetensors.torch import save

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    return save(tensors, metadata=metadata)


def run_trial(job: TrialJob, data: Dataset, on_epoch: Callable[[EpochMetrics], bool] | None = None) -> TrialOutcome:
    """Train `job`'s architecture on `data` (already on its device).

    `on_epoch` gets each epoch's metrics and returns True to stop the run (pruning). Every
    failure becomes a 'failed' `TrialOutcome` with its reason: a fault costs this trial only.
    """
    from workers.trainer import resolve_device, train

    worker, device_label = worker_name(), None
    try:
        config = job.train_config()
        device = resolve_device(config.device)
        device_label = device_name(device)
        if job.threads is not None:
            torch.set_num_threads(job.threads)
        torch.manual_seed(config.seed)
        model = build(Arch.from_json(job.arch_json), data.input_shape, data.num_classes)
        report = (lambda m: bool(on_epoch(m))) if on_epoch else None
        result = train(model, data, config, report=report)
        weights = state_dict_bytes(model) if job.save_weights and result.status != "failed" else None
        return TrialOutcome.from_result(result, worker=worker, weights=weights)
    except torch.cuda.OutOfMemoryError as e:
        return TrialOutcome.failed(f"out of memory: {str(e).splitlines()[0]}", worker=worker, device=device_label)
    except Exception as e:  # noqa: BLE001 - any fault ends this trial only
        tail = traceback.format_exc(limit=-3)
        return TrialOutcome.failed(f"{type(e).__name__}: {e}", worker=worker, device=device_label, traceback=tail)
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
