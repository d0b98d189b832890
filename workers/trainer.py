"""The training loop: one function of (model, data, config, report callback), no globals.

The train and val splits stay resident on the device as tensors (raw uint8 images stay uint8
and each batch is normalised as it is drawn: `workers._resident`); each epoch draws a seeded
permutation and slices it into fixed-size batches (the last partial batch is dropped so every
step has one shape), augments on the device, and takes an SGD step. On CUDA the model runs in
bf16 autocast and channels_last, and its forward+backward is captured once as a CUDA graph
(`make_step`); anything that cannot be captured falls back to eager. On the CPU everything is
fp32 and eager, and a seed gives the same metrics on every run.

Dense prediction (a dataset of masks, `Dataset.task` 'segment'; `workers.dense`): the loss is
per pixel (`TrainConfig.loss`), images and masks flip together, accuracies count pixels, and the
validation "accuracy" (the score `EpochMetrics.val_accuracy` and `evaluate` return) is the mIoU.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from workers._resident import Normalize, resident
from workers._schedule import lr_at
from workers._step import StepFn, autocast, cuda_session, make_step, prepare_batch
from workers.datasets._types import Dataset, Split
from workers.records import EpochMetrics, TrainConfig, TrainResult

__all__ = ["EpochMetrics", "TrainConfig", "TrainResult", "evaluate", "resolve_device", "train"]

ReportFn = Callable[[EpochMetrics], "bool | None"]


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU; otherwise the named device.

    Raises:
        ValueError: for a name torch does not know, or CUDA asked for where there is none.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"unknown device {name!r}; use 'auto', 'cpu' or 'cuda[:N]'") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available; use 'cpu' or 'auto'")
    return device


def train(
    model: nn.Module,
    data: Dataset,
    config: TrainConfig | None = None,
    report: ReportFn | None = None,
    *,
    progress: bool = False,
) -> TrainResult:
    """Train `model` in place on `data.train`, evaluating on `data.val` after every epoch.

    Args:
        model: any module mapping (N, C, H, W) images to (N, num_classes) logits.
        data: a `Dataset`; moved to the device and normalised here unless already normalised.
        config: hyper-parameters; defaults to `TrainConfig()`.
        report: called with each epoch's `EpochMetrics`; returning True stops the run
            (status 'stopped'), which is how early stopping and pruning plug in.
        progress: print one line per epoch to stderr.

    Returns:
        A `TrainResult`. A non-finite training loss ends the run with status 'failed' (it is
        detected at the end of the epoch, without a device sync per step); so does running
        out of GPU memory. Other errors propagate.
    """
    config = config or TrainConfig()
    t_begin = time.perf_counter()
    device = resolve_device(config.device)
    on_cuda = device.type == "cuda"
    use_bf16 = on_cuda and config.bf16 and torch.cuda.is_bf16_supported()
    torch.manual_seed(config.seed)

    data, normalize = _resident(data, device, torch.bfloat16 if use_bf16 else torch.float32)
    if len(data.train) == 0:
        raise ValueError(f"dataset {data.name!r} has an empty train split; nothing to train on")
    n_used = max(1, int(len(data.train) * config.train_fraction))
    batch = min(config.batch_size, n_used)  # a tiny subset still gets one step per epoch
    steps_per_epoch = n_used // batch
    total_steps = config.epochs * steps_per_epoch
    augment = _augmenter(data, config, device)

    perm_gen = torch.Generator().manual_seed(config.seed)
    # train_fraction: a fixed prefix of one seeded permutation, the same subset every epoch.
    subset = torch.randperm(len(data.train), generator=perm_gen)[:n_used]

    was_training = model.training
    model.to(device)
    if on_cuda:
        model.to(memory_format=torch.channels_last)
    optimizer = _make_optimizer(model, config)
    loss_fn = _loss(data, config)

    def lr_of(i: int) -> float:
        return lr_at(
            i,
            total_steps,
            peak=config.lr,
            schedule=config.schedule,
            warmup_fraction=config.warmup_fraction,
        )

    history: list[EpochMetrics] = []
    status, reason = "complete", None
    train_seconds, step = 0.0, 0
    with cuda_session(model, on_cuda):
        model.train()
        sample = prepare_batch(normalize(data.train.x[subset[:batch].to(device)]), on_cuda, use_bf16)
        step_fn, graphed = make_step(
            model, loss_fn, sample, use_bf16=use_bf16, use_graphs=on_cuda and config.cuda_graphs
        )
        bar = _step_bar(config.epochs * steps_per_epoch) if progress else None
        try:
            for epoch in range(1, config.epochs + 1):
                t0 = time.perf_counter()
                order = subset[torch.randperm(n_used, generator=perm_gen)].to(device)
                losses, correct, lr = _train_epoch(
                    model,
                    optimizer,
                    step_fn,
                    data.train,
                    order,
                    batch=batch,
                    lrs=[lr_of(step + i) for i in range(steps_per_epoch)],
                    augment=augment,
                    normalize=normalize,
                    on_cuda=on_cuda,
                    use_bf16=use_bf16,
                    tick=bar.update if bar else None,
                )
                step += steps_per_epoch
                _sync(device)
                train_seconds += time.perf_counter() - t0

                reason = _nonfinite(losses, epoch)
                if reason:
                    status = "failed"
                    break

                val_loss = val_acc = None
                if len(data.val) > 0:
                    val_loss, val_acc = evaluate(
                        model,
                        data.val,
                        batch_size=config.eval_batch_size,
                        device=device,
                        bf16=use_bf16,
                        normalize=normalize,
                    )
                metrics = EpochMetrics(
                    epoch=epoch,
                    train_loss=float(losses.mean()),
                    train_accuracy=int(correct) / (steps_per_epoch * batch * _pixels(data.train)),
                    val_loss=val_loss,
                    val_accuracy=val_acc,
                    seconds=time.perf_counter() - t0,
                    lr=lr,
                )
                history.append(metrics)
                if bar is not None:
                    bar.write(_progress_line(metrics, config.epochs, data.task == "segment"), file=sys.stderr)
                if report is not None and report(metrics):
                    status = "stopped"
                    reason = f"stopped by the report callback after epoch {epoch}"
                    break
                elapsed = time.perf_counter() - t_begin
                limit = config.max_seconds
                if epoch < config.epochs and limit is not None and elapsed >= limit:
                    status = "timeout"
                    reason = f"time limit {limit:g}s reached after epoch {epoch} ({elapsed:.1f}s)"
                    break
        except torch.cuda.OutOfMemoryError as e:  # torch.OutOfMemoryError since 2.5
            status, reason = "failed", f"out of memory: {str(e).splitlines()[0]}"
        finally:
            if bar is not None:
                bar.close()
    model.train(was_training)

    vals = [m.val_accuracy for m in history if m.val_accuracy is not None]
    last = history[-1] if history else None
    return TrainResult(
        status=status,
        reason=reason,
        val_accuracy=last.val_accuracy if last else None,
        val_loss=last.val_loss if last else None,
        best_val_accuracy=max(vals) if vals else None,
        epochs_run=len(history),
        train_seconds=train_seconds,
        images_per_second=step * batch / train_seconds if train_seconds > 0 else 0.0,
        history=history,
        device=str(device),
        train_images=steps_per_epoch * batch,
        steps=step,
        cuda_graphs=graphed,
    )


@torch.no_grad()
def evaluate(
    model: nn.Module,
    split: Split,
    *,
    batch_size: int = 1024,
    device: torch.device | str | None = None,
    bf16: bool = True,
    normalize: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of `model` over every image of `split`; for a split of
    masks (N, H, W), the mean per-pixel cross-entropy and the mIoU (`workers.dense`).

    Args:
        split: normalised float images (as `Dataset.to` leaves them), on any device; they are
            moved batch by batch.
        device: where to run; None means where the model's parameters are.
        bf16: use bf16 autocast (CUDA only, where supported).
        normalize: turns each batch of raw images into normalised floats on the device (the
            trainer's `Normalize` for uint8 splits, converted batch by batch).

    Raises:
        ValueError: for an empty split or one whose images are not normalised floats.
    """
    if len(split) == 0:
        raise ValueError("cannot evaluate on an empty split")
    if not split.x.is_floating_point() and normalize is None:
        raise ValueError(f"evaluate needs normalised float images, got {split.x.dtype}; call Dataset.to(device) first")
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    device = torch.device(device)
    model.to(device)
    on_cuda = device.type == "cuda"
    use_bf16 = on_cuda and bf16 and torch.cuda.is_bf16_supported()
    was_training = model.training
    model.eval()
    if split.y.dim() == 3:
        from workers.dense import evaluate_dense

        def prepare(xb: torch.Tensor) -> torch.Tensor:
            return prepare_batch(normalize(xb) if normalize is not None else xb, on_cuda, use_bf16)

        def forward(xb: torch.Tensor) -> torch.Tensor:
            with autocast(use_bf16):
                return model(xb)

        try:
            num_classes = _dense_classes(model, split)
            loss, dense = evaluate_dense(
                model,
                split.x,
                split.y,
                num_classes,
                batch_size=batch_size,
                device=device,
                prepare=prepare,
                forward=forward,
            )
        finally:
            model.train(was_training)
        return loss, dense.miou
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    try:
        for start in range(0, len(split), batch_size):
            xb = split.x[start : start + batch_size].to(device)
            if normalize is not None:
                xb = normalize(xb)
            yb = split.y[start : start + batch_size].to(device)
            with autocast(use_bf16):
                logits = model(prepare_batch(xb, on_cuda, use_bf16))
            loss_sum += F.cross_entropy(logits.float(), yb, reduction="sum")
            correct += (logits.argmax(dim=1) == yb).sum()
    finally:
        model.train(was_training)
    return float(loss_sum) / len(split), int(correct) / len(split)


# --- small helpers ---------------------------------------------------------------------------


def _train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    step_fn: StepFn,
    split: Split,
    order: torch.Tensor,
    *,
    batch: int,
    lrs: list[float],
    augment: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None,
    normalize: Callable[[torch.Tensor], torch.Tensor],
    on_cuda: bool,
    use_bf16: bool,
    tick: Callable[[], object] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """One pass of `len(lrs)` steps over `order` (indices on the device) in whole batches.

    Returns (losses, correct, last lr): the per-step losses (steps,) and the number of correct
    training predictions, both left on the device so that no step waits for the host.
    """
    model.train()
    losses = torch.zeros(len(lrs), device=order.device)
    correct = torch.zeros((), dtype=torch.long, device=order.device)
    for i, lr in enumerate(lrs):
        idx = order[i * batch : (i + 1) * batch]
        xb, yb = split.x.index_select(0, idx), split.y.index_select(0, idx)
        xb = normalize(xb)  # uint8 -> normalised float, batch by batch; then augmented as before
        if augment is not None:
            xb, yb = augment(xb, yb)
        xb = prepare_batch(xb, on_cuda, use_bf16)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)  # set_to_none: required with a graphed backward
        loss, logits = step_fn(xb, yb)
        optimizer.step()
        losses[i] = loss
        correct += (logits.argmax(dim=1) == yb).sum()
        if tick is not None:
            tick()  # a host-side counter: no device sync
    return losses, correct, lrs[-1] if lrs else 0.0


def _resident(data: Dataset, device: torch.device, dtype: torch.dtype) -> tuple[Dataset, Normalize]:
    """`data`'s train and val on `device` (labels int64), and the per-batch normalisation.

    Raw (uint8) images stay uint8 on the device and are normalised batch by batch
    (`workers._resident`: a quarter of the memory, the same numbers); a dataset already
    normalised (`Dataset.to`) is used as it is. The test split is left where it is. Copies only
    what is not already there.
    """
    moved = resident(data, device)
    return dataclasses.replace(moved, test=data.test), Normalize(data.mean, data.std, device, dtype)


def _augmenter(data: Dataset, config: TrainConfig, device: torch.device):
    """An (images, labels) -> (images, labels) augmentation on the device, or None when it is off:
    random crops and flips of the images; for masks, flips of image and mask together."""
    if not (data.augment if config.augment is None else config.augment):
        return None
    from workers.datasets import augment_batch  # lazy: the datasets package imports its loaders

    gen = torch.Generator(device=device).manual_seed(config.seed + 1)
    if data.task == "segment":
        from workers.datasets._seg import augment_pair

        return lambda x, y: augment_pair(x, y, flip=data.flip, generator=gen)
    return lambda x, y: (augment_batch(x, padding=data.crop_padding, flip=data.flip, generator=gen), y)


def _loss(data: Dataset, config: TrainConfig) -> nn.Module:
    """The training loss: cross-entropy (label-smoothed) per image, or per pixel for masks
    (`TrainConfig.loss`: ce, dice or ce+dice; `workers.dense.DenseLoss`)."""
    if data.task == "segment":
        from workers.dense import DenseLoss

        return DenseLoss(config.loss, config.label_smoothing)
    if config.loss != "ce":
        raise ValueError(f"loss {config.loss!r} is for dense prediction (masks); {data.name!r} has labels: use ce")
    return nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)


def _pixels(split: Split) -> int:
    """Labels per image: 1, or H*W for masks (what a training accuracy counts)."""
    return int(split.y[0].numel()) if split.y.dim() > 1 and len(split) else 1


def _dense_classes(model: nn.Module, split: Split) -> int:
    """The class count of a dense model: its per-pixel head's output channels (`nas.ir`'s
    ``head``: a 1x1 conv), else one more than the largest id in the masks."""
    head = getattr(model, "head", None)
    if isinstance(head, nn.Conv2d):
        return int(head.out_channels)
    return int(split.y.max()) + 1


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.SGD:
    """SGD (Nesterov unless momentum is 0); no weight decay on biases and norm parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() > 1]
    no_decay = [p for p in params if p.dim() <= 1]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.SGD(
        [g for g in groups if g["params"]],
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov and config.momentum > 0,
    )


def _nonfinite(losses: torch.Tensor, epoch: int) -> str | None:
    """None when every per-step loss is finite, else the reason naming the first bad step."""
    finite = torch.isfinite(losses)
    if bool(finite.all()):
        return None
    bad = int((~finite).nonzero()[0, 0])
    return f"non-finite loss ({float(losses[bad])}) at epoch {epoch} step {bad + 1}"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step_bar(total: int):
    from tqdm.auto import tqdm

    return tqdm(
        total=total, unit="step", desc="train", file=sys.stderr, dynamic_ncols=True, mininterval=1.0, leave=False
    )


def _progress_line(m: EpochMetrics, epochs: int, dense: bool = False) -> str:
    val = ""
    if m.val_accuracy is not None:
        val = f" val_loss {m.val_loss:.4f} val_{'miou' if dense else 'acc'} {m.val_accuracy:.4f}"
    return (
        f"epoch {m.epoch}/{epochs} train_loss {m.train_loss:.4f} train_acc {m.train_accuracy:.4f}"
        f"{val} lr {m.lr:.4g} {m.seconds:.1f}s"
    )
