"""Dense prediction (segmentation): the per-pixel losses and the metrics, mIoU and pixel accuracy.

A dense model maps (N, C, H, W) images to (N, K, H, W) logits; its labels are (N, H, W) masks of
class ids (uint8 as loaded). The trainer (`workers.trainer`) uses these when the dataset's task
is 'segment' (`Dataset.task`):

- the loss (`TrainConfig.loss`): 'ce' per-pixel cross-entropy (with the config's label
  smoothing), 'dice' the soft Dice loss (1 - mean Dice over the classes in the batch), or
  'ce+dice' their sum;
- the score of a model, what the search maximises and the leaderboard shows: the mIoU, the mean
  intersection-over-union over the classes present in the split's masks (IoU_c = TP / (TP + FP
  + FN), counted over every pixel of the split), with the pixel accuracy beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DenseLoss", "DenseScores", "confusion", "evaluate_dense", "scores"]


class DenseLoss(nn.Module):
    """The per-pixel training loss of `TrainConfig.loss`: 'ce', 'dice' or 'ce+dice'."""

    def __init__(self, kind: str = "ce", label_smoothing: float = 0.0) -> None:
        super().__init__()
        if kind not in ("ce", "dice", "ce+dice"):
            raise ValueError(f"loss {kind!r}: use ce, dice or ce+dice")
        self.kind = kind
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.long()
        loss = logits.new_zeros(())
        if "ce" in self.kind.split("+"):
            loss = loss + F.cross_entropy(logits, target, label_smoothing=self.label_smoothing)
        if "dice" in self.kind:
            loss = loss + dice_loss(logits, target)
        return loss


def dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - the mean soft Dice over the classes present in `target` or predicted with mass."""
    k = logits.shape[1]
    probs = logits.softmax(dim=1)
    onehot = F.one_hot(target, k).permute(0, 3, 1, 2).to(probs.dtype)
    dims = (0, 2, 3)
    inter = (probs * onehot).sum(dims)
    total = probs.sum(dims) + onehot.sum(dims)
    dice = (2 * inter + smooth) / (total + smooth)
    present = onehot.sum(dims) > 0
    return 1 - (dice[present].mean() if bool(present.any()) else dice.mean())


def confusion(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The (K, K) confusion counts, rows the true class and columns the predicted one."""
    k = num_classes
    idx = target.reshape(-1).long() * k + pred.reshape(-1).long()
    return torch.bincount(idx, minlength=k * k).reshape(k, k)


@dataclass(frozen=True)
class DenseScores:
    """mIoU over the classes present in the masks, pixel accuracy, and the IoU of each class
    (None for a class absent from the masks)."""

    miou: float
    pixel_accuracy: float
    iou: tuple[float | None, ...]


def scores(conf: torch.Tensor) -> DenseScores:
    """mIoU and pixel accuracy from a confusion matrix (`confusion`)."""
    conf = conf.double()
    tp = conf.diag()
    truth, predicted = conf.sum(1), conf.sum(0)
    union = truth + predicted - tp
    present = truth > 0
    iou = torch.where(union > 0, tp / union.clamp_min(1), torch.zeros_like(tp))
    miou = float(iou[present].mean()) if bool(present.any()) else 0.0
    total = float(conf.sum())
    return DenseScores(
        miou=miou,
        pixel_accuracy=float(tp.sum()) / total if total else 0.0,
        iou=tuple(float(v) if p else None for v, p in zip(iou.tolist(), present.tolist(), strict=True)),
    )


@torch.no_grad()
def evaluate_dense(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    *,
    batch_size: int,
    device: torch.device,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[float, DenseScores]:
    """Mean per-pixel cross-entropy and the `DenseScores` of `model` over images `x` and masks
    `y` (moved batch by batch; `prepare` turns a batch into the model's input on `device`)."""
    run = forward or model
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    conf = torch.zeros((num_classes, num_classes), dtype=torch.long, device=device)
    for start in range(0, len(y), batch_size):
        xb = prepare(x[start : start + batch_size].to(device))
        yb = y[start : start + batch_size].to(device).long()
        logits = run(xb).float()
        loss_sum += F.cross_entropy(logits, yb, reduction="sum")
        conf += confusion(logits.argmax(dim=1), yb, num_classes)
    return float(loss_sum) / max(1, y.numel()), scores(conf.cpu())
