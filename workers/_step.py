"""The training step: eager everywhere, a CUDA graph of forward+backward where it captures.

Kept apart from the loop so that the CPU path (`use_graphs=False`: a plain forward, loss and
backward) stays obviously correct and the CUDA-only machinery is in one small place.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

import torch
from torch import nn

log = logging.getLogger(__name__)

StepFn = Callable[[torch.Tensor, torch.Tensor], "tuple[torch.Tensor, torch.Tensor]"]


def make_step(
    model: nn.Module,
    loss_fn: nn.Module,
    sample_x: torch.Tensor,
    *,
    use_bf16: bool,
    use_graphs: bool,
) -> tuple[StepFn, bool]:
    """Return (step, graphed): step(x, y) runs forward and backward, leaving gradients in
    `.grad`, and returns the detached (loss, logits); the optimizer step stays outside.

    With `use_graphs`, the model's train-mode forward and backward are captured by
    `torch.cuda.make_graphed_callables` (it warms up on a side stream itself, then captures) with
    `sample_x` fixing the batch shape; every later batch must have that shape, dtype and memory
    format. The loss, the optimizer and anything in eval mode stay eager. Callers must zero
    gradients with `set_to_none=True`: a graphed backward hands out its static gradient buffers.
    If capture fails (host syncs, data-dependent shapes, ...) the reason is logged once and the
    step is eager.
    """

    def step(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with autocast(use_bf16):
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        loss.backward()
        return loss.detach(), logits.detach()

    if not use_graphs:
        return step, False
    try:
        capture(model, sample_x, use_bf16)
    except Exception as e:  # any capture failure: train eagerly instead
        first_line = (str(e).strip().splitlines() or [""])[0]
        log.warning("CUDA graph capture failed, training eagerly: %s: %s", type(e).__name__, first_line)
        return step, False
    return step, True


def capture(model: nn.Module, sample_x: torch.Tensor, use_bf16: bool) -> None:
    """Graph `model`'s forward/backward in place (make_graphed_callables patches `forward`).

    The warm-up iterations update BatchNorm running statistics on the sample batch; they are
    put back afterwards so that capture leaves no trace in the trained model.
    """
    saved = [b.detach().clone() for b in model.buffers()]
    stream = torch.cuda.current_stream(sample_x.device)
    try:
        # Autocast must be active during capture (so the casts are recorded) with its weight
        # cache off, as make_graphed_callables requires.
        with autocast(use_bf16):
            torch.cuda.make_graphed_callables(model, (sample_x,))
    except Exception:
        # A failed capture can leave the side stream current; go back to ours.
        torch.cuda.set_stream(stream)
        model.__dict__.pop("forward", None)
        raise
    finally:
        with torch.no_grad():
            for b, s in zip(model.buffers(), saved, strict=False):
                b.copy_(s)
        model.zero_grad(set_to_none=True)


@contextlib.contextmanager
def cuda_session(model: nn.Module, on_cuda: bool) -> Iterator[None]:
    """cudnn autotuning for the run (fixed shapes), and an unpatched `forward` afterwards."""
    had_forward = "forward" in model.__dict__
    old_forward = model.__dict__.get("forward")
    old_benchmark = torch.backends.cudnn.benchmark
    if on_cuda:
        torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = old_benchmark
        if had_forward:
            model.forward = old_forward  # type: ignore[method-assign]
        else:
            model.__dict__.pop("forward", None)  # drop the graphed forward


def autocast(use_bf16: bool) -> contextlib.AbstractContextManager:
    if not use_bf16:
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False)


def prepare_batch(x: torch.Tensor, on_cuda: bool, use_bf16: bool) -> torch.Tensor:
    """A batch in the layout and dtype the model runs on."""
    if not use_bf16 and x.dtype != torch.float32:
        x = x.float()
    if on_cuda and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x
