"""Run one trial on a worker: compile the arch, train it, return plain results (never write the DB)."""

from __future__ import annotations

import os
import socket
import traceback
from collections.abc import Callable

import torch

from nas.ir import Arch, build
from workers.datasets import Dataset
from workers.records import TrialJob


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


def run_trial(job: TrialJob, data: Dataset, on_epoch: Callable[[dict], bool] | None = None) -> dict:
    """Train `job`'s architecture on `data` (already on its device).

    Returns a dict: status ('complete' | 'stopped' | 'failed' | 'timeout'), reason, the
    validation metrics, epochs_run, train_seconds, images_per_second, device, worker and
    `weights` (safetensors bytes, or None). Every failure becomes a 'failed' result with its
    reason: a fault costs this trial only.
    """
    from workers.records import TrainConfig
    from workers.trainer import resolve_device, train

    out: dict = {"worker": worker_name(), "weights": None}
    try:
        cfg = dict(job.train)
        if job.max_seconds is not None:
            cap = cfg.get("max_seconds")
            cfg["max_seconds"] = job.max_seconds if cap is None else min(cap, job.max_seconds)
        config = TrainConfig.from_dict(cfg)
        device = resolve_device(config.device)
        out["device"] = device_name(device)
        torch.manual_seed(config.seed)
        model = build(Arch.from_json(job.arch_json), data.input_shape, data.num_classes)
        report = (lambda m: bool(on_epoch(m.to_dict()))) if on_epoch else None
        result = train(model, data, config, report=report)
        res = result.to_dict()
        res.pop("history", None)
        out.update(res)
        if job.save_weights and result.status != "failed":
            out["weights"] = state_dict_bytes(model)
    except torch.cuda.OutOfMemoryError as e:
        out.update(status="failed", reason=f"out of memory: {str(e).splitlines()[0]}")
    except Exception as e:  # noqa: BLE001 - any fault ends this trial only
        tail = traceback.format_exc(limit=-3)
        out.update(status="failed", reason=f"{type(e).__name__}: {e}", traceback=tail)
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return out
