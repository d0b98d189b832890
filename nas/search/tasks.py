"""What a search predicts, told from its space: a label per image or a label per pixel.

A space declares its task (`SearchSpace.task`: 'classify', or 'segment' for `skipunet`) and the
dataset it uses unless told (`SearchSpace.default_dataset`). A search's first objective is its
*score*, the validation number it maximises: ``val_accuracy`` for a classifier, ``val_miou`` for
dense prediction. It is stored with the search (its objectives), so every command that shows
results names the score as the search measured it (`nas.final.scores`). The records and tables
keep one field for it (``val_accuracy``; ``test_accuracy`` for `nas evaluate`'s runs): for a
dense search it holds the mIoU.

Torch-free: `SearchConfig` calls these while it is built.
"""

from __future__ import annotations

#: The score (a search's first objective) of each task.
SCORES = {"classify": "val_accuracy", "segment": "val_miou"}
#: The segmentation datasets, by name without a path (`workers.datasets` registers them with
#: task 'segment'; tests/workers/test_segdata.py checks the two lists agree).
SEGMENT_DATASETS = ("fmnist-seg", "imagefolder-seg", "synthetic-seg")
#: `SearchConfig.dataset`'s default, which a space's own default dataset replaces.
DEFAULT_DATASET = "fashion-mnist"


def space_task(space: str) -> str:
    """'classify' or 'segment': the task of the registered space `space` ('classify' when the
    name is unknown: that error is the space registry's to give)."""
    from search_spaces import SpaceConfigError, space_class

    try:
        return str(space_class(space).task)
    except SpaceConfigError:
        return "classify"


def dataset_task(dataset: str) -> str:
    """'segment' for a segmentation dataset's name (`NAME` or `NAME:PATH`), else 'classify'."""
    return "segment" if str(dataset).partition(":")[0].strip().lower() in SEGMENT_DATASETS else "classify"


def task_defaults(space: str, dataset: str, objectives: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """The dataset and objectives a search of `space` runs with when they are left at their
    defaults: a dense space takes its own dataset in place of `DEFAULT_DATASET`, and its score
    (``val_miou``) in place of ``val_accuracy``."""
    from search_spaces import SpaceConfigError, space_class

    try:
        cls = space_class(space)
    except SpaceConfigError:
        return dataset, objectives
    if dataset == DEFAULT_DATASET and cls.default_dataset:
        dataset = cls.default_dataset
    score = SCORES.get(cls.task, "val_accuracy")
    if objectives and objectives[0] == "val_accuracy" and score != "val_accuracy":
        objectives = (score, *objectives[1:])
    return dataset, objectives


def check_task(space: str, dataset: str, objectives: tuple[str, ...]) -> str | None:
    """Why `space`, `dataset` and `objectives` do not go together (one line), or None."""
    task = space_task(space)
    score = SCORES[task]
    if not objectives or objectives[0] != score or len(set(objectives)) != len(objectives):
        return f"--objectives {','.join(objectives)!r}: start with {score}, e.g. {score} or {score},params"
    if dataset_task(dataset) != task:
        if task == "segment":
            return (
                f"--space {space} predicts a class per pixel, but --dataset {dataset} has one label per image; "
                f"use a dataset of masks ({', '.join(SEGMENT_DATASETS)})"
            )
        return (
            f"--dataset {dataset} has masks (a class per pixel), but --space {space} classifies whole images; "
            "use --space skipunet"
        )
    return None


def check_loss(space: str, loss: str) -> str | None:
    """Why the training loss `loss` does not fit `space`'s task (one line), or None: Dice is a
    per-pixel loss, for dense prediction only."""
    if loss != "ce" and space_task(space) != "segment":
        return f"--loss {loss}: Dice is a per-pixel loss, for segmentation (--space skipunet); use --loss ce"
    return None
