"""A dense trial's predictions on a few validation images (what `nas show TRIAL --samples N` draws).

The model is the architecture with its stored weights: the search's own run of the trial
('weights', trained without the validation hold-out) when stored, else `nas evaluate`'s
'final_weights' (trained on the whole training split, the validation images included: the note
says so). The images are the first N of the search's validation hold-out, loaded as the search
loaded them (its dataset, seed, --val-fraction and --subset).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from db import NotFoundError


@dataclass
class Predictions:
    """Images (N, C, H, W) uint8, true and predicted masks (N, H, W), and what they are of."""

    images: Any
    truth: Any
    predicted: Any
    classes: list[str]
    title: str
    miou: float
    pixel_accuracy: float
    notes: list[str] = field(default_factory=list)


def predict_samples(store, rec, trial, samples: int) -> Predictions:
    """Run trial `trial` (of architecture record `rec`; None: its best trial with weights) on the
    first `samples` validation images of its search.

    Raises:
        ValueError: not a dense architecture, or a bad `samples`. NotFoundError: no stored weights.
        DatasetError: the search's dataset cannot be loaded here.
    """
    import torch
    from safetensors.torch import load as load_safetensors

    from nas.final.evaluate import trials_of
    from nas.ir import Arch, build
    from workers.datasets import load_dataset
    from workers.dense import confusion, scores

    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= 64:
        raise ValueError(f"--samples {samples!r}: give a number of images from 1 to 64")
    arch = Arch.from_json(rec.canonical_json)
    if not arch.dense:
        raise ValueError(
            f"architecture {rec.hash[:12]} classifies whole images; --samples draws the masks a dense "
            "(per-pixel) model predicts, e.g. of a skipunet search"
        )
    candidates = (
        [trial]
        if trial is not None
        else sorted(
            (t for t in trials_of(store, rec.hash) if t.state in ("complete", "duplicate")),
            key=lambda t: (t.val_accuracy is None, -(t.val_accuracy or 0.0), t.id),
        )
    )
    found = None
    for t in candidates:
        for kind in ("weights", "final_weights"):
            for tid in [t.id] + ([t.duplicate_of] if t.duplicate_of else []):
                data = store.get_artifact(tid, kind)
                if data:
                    found = (t, kind, data)
                    break
            if found:
                break
        if found:
            break
    if found is None:
        which = f"trial {trial.optuna_number} of search {trial.search_name!r}" if trial else f"{rec.hash[:12]}"
        raise NotFoundError(
            f"no weights are stored for {which} (a search keeps its top K: --save-weights); "
            f"run `nas evaluate --hash {rec.hash[:12]}` to train and store them"
        )
    t, kind, data = found
    search = store.get_search(t.search_name)
    c = search.config or {}
    ds = load_dataset(
        search.dataset,
        data_dir=c.get("data_dir"),
        image_size=c.get("image_size"),
        val_fraction=c.get("val_fraction", 0.1),
        seed=int(c.get("seed") or 0),
        subset=c.get("subset"),
        download=False,
    )
    split = ds.val if len(ds.val) else ds.test
    images, truth = split.x[:samples], split.y[:samples].long()
    model = build(arch, ds.input_shape, ds.num_classes).eval()
    model.load_state_dict(load_safetensors(data), strict=True)
    mean = torch.tensor(ds.mean).view(1, -1, 1, 1)
    std = torch.tensor(ds.std).view(1, -1, 1, 1)
    with torch.no_grad():
        logits = model((images.float() / 255 - mean) / std)
    predicted = logits.argmax(1)
    s = scores(confusion(predicted, truth, ds.num_classes))
    notes = []
    if kind == "final_weights":
        notes.append("the weights are `nas evaluate`'s, trained on the whole training split: these images included")
    title = f"{t.search_name} trial {t.optuna_number} ({rec.hash[:8]}) on {len(images)} validation image(s)"
    return Predictions(images, truth, predicted, ds.classes, title, s.miou, s.pixel_accuracy, notes)
