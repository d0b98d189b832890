"""Export an architecture as files that need only torch (and safetensors).

    result = nas.export("sqlite:///nas.db", "best_model", best=True)   # nas.final.export.export
    model = nas.load("best_model")        # nas.final.export.load: nn.Module with the weights, in eval mode
    export_arch("arch.json", "fresh_model", seed=0)                     # any architecture, no database

The directory gets:
    model.py              a standalone module (imports only torch) defining ``Net``, plus
                          ``CLASSES``, ``MEAN``, ``STD``, ``INPUT_SHAPE`` and
                          ``preprocess(images)`` (uint8 tensors or PIL images -> the normalised
                          batch); its docstring gives the hash, the search, the metrics and
                          how to load the weights
    hubconf.py            ``torch.hub.load(DIR, "net", source="local", pretrained=True)``
    weights.safetensors   the weights (safetensors: nothing is ever unpickled)
    arch.json             the architecture (`nas.Arch.from_json`; `nas train --arch`)
    model.onnx            with ``onnx=True`` (needs ``pip install onnx onnxscript``), batch axis dynamic

The same export twice gives byte-identical files: no timestamps, no absolute paths, sorted
safetensors metadata, ONNX without the exporter's per-node debug metadata.

Which trial: ``best=True`` (the default) takes the best validation accuracy (in a
multi-objective search, the Pareto-optimal trial with the best validation accuracy); test
accuracy from `nas evaluate` is written into model.py's docstring but never chooses.

Weights come from the database: the 'final_weights' a `nas evaluate` run stored (the final
protocol: whole training split), else the 'weights' the search stored for the trial. With
``retrain=True``, or when neither is stored, the architecture is trained here with the final
protocol (`nas.final.final_train`); that run is not recorded in the database. `export_arch`
writes the same files for an architecture with freshly initialised (seeded) weights.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from db import NotFoundError
from nas.final.protocol import FinalConfig
from nas.ir import CLASSIFIER_WEIGHT

#: a dense model's per-pixel head (`nas.ir.compile`: ``self.head = nn.Conv2d(width, K, 1)``)
DENSE_HEAD_WEIGHT = "head.weight"

FILES = ("model.py", "hubconf.py", "weights.safetensors", "arch.json", "model.onnx", "model.onnx.data")
ONNX_HINT = "pip install onnx onnxscript"


class ExportError(ValueError):
    """An export the user asked for cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class ExportResult:
    """What `export` wrote and where the model came from."""

    out_dir: str
    files: dict[str, str]  # file name -> path
    search: str | None  # None for `export_arch`
    trial: int | None
    arch_hash: str
    weights_source: str  # 'final_weights' | 'weights' | 'retrained' | 'fresh' (export_arch)
    input_shape: tuple[int, int, int]
    num_classes: int
    params: int
    flops: int
    val_accuracy: float | None
    test_accuracy: float | None
    test_std: float | None
    test_seeds: int
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    notes: list[str] = field(default_factory=list)
    classes: tuple[str, ...] = ()  # class names by label (model.py's CLASSES)
    dataset: str | None = None  # what the class names and statistics are of
    #: how the trial was chosen: 'best validation' (--best, the default), 'trial' or 'hash';
    #: None for `export_arch`. Never a test-split number.
    selected_by: str | None = None
    #: what val_accuracy and test_accuracy measure: 'accuracy', or 'mIoU' for a dense (per-pixel)
    #: model, whose Net maps (N, C, H, W) to (N, K, H, W) logits
    score: str = "accuracy"


# ---- selection -----------------------------------------------------------------------------
def select(store, *, search: str | None = None, trial: int | None = None, hash: str | None = None, best: bool = False):
    """The trial an export is about. Returns (search name, TrialRecord).

    ``best`` (also the default, when nothing is given): `nas.final.evaluate.best_by_validation`
    over the search's leaderboard: the best validation accuracy; in a multi-objective search
    the trial on the Pareto front of the search's objectives with the best validation accuracy
    (ties: its other objectives, in order). It is the trial `nas evaluate --top` takes first.
    ``hash``: of that architecture's completed trials, the one with the best validation accuracy.
    Test accuracy (`nas evaluate`) never takes part in either choice.
    """
    from nas.final.evaluate import (
        best_by_validation,
        find_arch,
        find_trial,
        resolve_search,
        search_objectives,
        trials_of,
    )

    given = [name for name, v in (("--best", best), ("--trial", trial is not None), ("--hash", hash)) if v]
    if len(given) > 1:
        raise ExportError(f"choose one of {', '.join(given)}")
    if trial is not None:
        if isinstance(trial, bool) or not isinstance(trial, int) or trial < 0:
            raise ExportError(f"--trial {trial!r}: must be a trial number (an integer >= 0)")
        t = find_trial(store, trial, search)
        return t.search_name, t
    if hash:
        arch = find_arch(store, hash)
        if search is not None:
            resolve_search(store, search)
        cands = [t for t in trials_of(store, arch.hash, search) if t.state in ("complete", "duplicate")]
        if not cands:
            where = f"search {search!r}" if search else store.display_url
            raise NotFoundError(f"architecture {arch.hash[:12]} has no completed trial in {where}")
        cands.sort(key=lambda t: (t.state != "complete", t.val_accuracy is None, -(t.val_accuracy or 0.0), t.id))
        return cands[0].search_name, cands[0]
    name = resolve_search(store, search)
    rows = store.leaderboard(name)
    if not rows:
        raise NotFoundError(f"search {name!r} has no completed trials to export")
    row = best_by_validation(rows, search_objectives(store, name))
    t = store.get_trial(name, row.trial)
    return name, t


def stored_weights(store, trial) -> tuple[str, bytes, dict] | None:
    """(kind, safetensors bytes, meta) of the best weights stored for `trial` (or for the trial
    whose result a duplicate reuses): 'final_weights' first, then 'weights'."""
    ids = [trial.id] + ([trial.duplicate_of] if trial.duplicate_of else [])
    for kind in ("final_weights", "weights"):
        for tid in ids:
            data = store.get_artifact(tid, kind)
            if data:
                meta = next((a.meta for a in store.artifacts(tid) if a.kind == kind), {}) or {}
                return kind, data, meta
    return None


# ---- export --------------------------------------------------------------------------------
def export(
    db_url,
    out_dir: str | os.PathLike,
    *,
    search: str | None = None,
    trial: int | None = None,
    hash: str | None = None,
    best: bool = False,
    force: bool = False,
    onnx: bool = False,
    retrain: bool = False,
    epochs: int = FinalConfig.epochs,
    seed: int = 0,
    device: str | None = None,
    progress: bool = False,
) -> ExportResult:
    """Write model.py, hubconf.py, weights.safetensors, arch.json (and model.onnx) for one trial.

    Args:
        db_url: a database URL or an open `db.Store`.
        search / trial / hash / best: which trial; see `select`.
        force: overwrite an existing non-empty `out_dir` (only the files above are replaced;
            nothing else there is removed).
        retrain: train with the final protocol (`epochs`, `seed`) instead of using stored weights.
    Raises:
        FileExistsError: `out_dir` is not empty and `force` is False (nothing is touched).
        ExportError: ONNX asked for without its packages, or a bad option.
        LookupError, DatabaseError, DatasetError: bad selection, database or dataset.
    """
    import db

    out = _check_out(out_dir, force=force)
    if onnx:
        _check_onnx()
    if not isinstance(db_url, (str, os.PathLike)):
        return _export(
            db_url,
            out,
            search=search,
            trial=trial,
            hash=hash,
            best=best,
            onnx=onnx,
            retrain=retrain,
            epochs=epochs,
            seed=seed,
            device=device,
            progress=progress,
        )
    with db.connect(str(db_url), read_only=True) as store:
        return _export(
            store,
            out,
            search=search,
            trial=trial,
            hash=hash,
            best=best,
            onnx=onnx,
            retrain=retrain,
            epochs=epochs,
            seed=seed,
            device=device,
            progress=progress,
        )


def _check_out(out_dir: str | os.PathLike, *, force: bool) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {str(out)!r} is a file; give a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise FileExistsError(f"--out {str(out)!r} is not empty; pass --force to overwrite or pick another directory")
    return out


def _export(
    store, out: Path, *, search, trial, hash, best, onnx, retrain, epochs, seed, device, progress
) -> ExportResult:
    name, t = select(store, search=search, trial=trial, hash=hash, best=best)
    if t.arch_hash is None:
        raise NotFoundError(f"trial {t.optuna_number} of search {name!r} has no architecture recorded")
    plan = _weights(store, name, t, retrain=retrain, epochs=epochs, seed=seed, device=device, progress=progress)

    from nas.ir import Arch, build, cost

    rec = store.get_architecture(t.arch_hash)
    arch = Arch.from_json(rec.canonical_json)
    k = cost(arch, plan["shape"], plan["num_classes"])
    model = build(arch, plan["shape"], plan["num_classes"]).eval()
    try:
        model.load_state_dict(plan["state"], strict=True)
    except RuntimeError as e:
        raise ExportError(
            f"the stored weights of trial {t.optuna_number} do not fit its architecture: "
            f"{str(e).splitlines()[0]}; use --retrain"
        ) from None
    fresh = store.get_trial(t.search_name, t.optuna_number)
    from nas.final.scores import MIOU, search_score

    score = MIOU.words if arch.dense else search_score(store, name).words
    plan = {**plan, "dense": arch.dense, "score": score}
    dataset = plan.get("dataset")
    classes = plan.get("classes") or _search_classes(store, t.search_name, plan["num_classes"])
    result = ExportResult(
        out_dir=str(out),
        files={},
        search=name,
        trial=t.optuna_number,
        arch_hash=rec.hash,
        weights_source=plan["source"],
        input_shape=tuple(plan["shape"]),
        num_classes=plan["num_classes"],
        params=k.params,
        flops=k.flops,
        val_accuracy=fresh.val_accuracy if fresh else t.val_accuracy,
        test_accuracy=fresh.test_accuracy_mean if fresh else None,
        test_std=fresh.test_accuracy_std if fresh else None,
        test_seeds=fresh.test_seeds if fresh else 0,
        mean=plan.get("mean"),
        std=plan.get("std"),
        notes=plan.get("notes", []),
        classes=tuple(classes),
        dataset=dataset_label(dataset) if dataset else None,
        selected_by="trial" if trial is not None else "hash" if hash else "best validation",
        score=score,
    )
    contents = bundle(
        arch,
        model,
        arch_hash=rec.hash,
        input_shape=result.input_shape,
        num_classes=result.num_classes,
        classes=result.classes,
        mean=result.mean,
        std=result.std,
        docstring=_docstring(result, plan),
        metadata={
            "arch_hash": rec.hash,
            "search": name,
            "trial": str(t.optuna_number),
            "source": plan["source"],
        },
    )
    files = write_files(out, contents, onnx_model=model if onnx else None, input_shape=result.input_shape)
    return dataclasses.replace(result, files=files)


def export_arch(
    arch,
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int | None = None,
    dataset: str | None = None,
    data_dir: str | None = None,
    force: bool = False,
    onnx: bool = False,
) -> ExportResult:
    """Write the export files for any architecture, with freshly initialised weights (seeded)
    and no database: the same files, in the same form, as `export` writes for a trial.

    Args:
        arch: an `Arch`, or the path of its JSON (`nas sample --out`, a search export's arch.json).
        seed: fixes the initial weights (`torch.manual_seed`; the global RNG is left as it was).
        input_shape: (C, H, W); default: the dataset's, else (1, 28, 28).
        num_classes: default: the dataset's, else 10.
        dataset: a dataset name (`workers.datasets.names()`, or `NAME:PATH`) whose class names
            and training-split mean/std go into model.py; registered ones are taken without
            reading the images. Without it CLASSES are "0".."K-1", MEAN 0 and STD 1.
        data_dir: where that dataset's files are, when they must be read.
    Raises:
        FileNotFoundError: no such architecture file. InvalidArchitecture: not an architecture.
        ValueError: a bad option, or one that contradicts the dataset. FileExistsError: as `export`.
        DatasetError: the dataset is unknown, or must be read and cannot be (no download is tried).
    """
    from nas.ir import Arch, InvalidArchitecture, build, cost

    if not isinstance(arch, Arch):
        path = Path(arch)
        if not path.is_file():
            what = "is a directory" if path.is_dir() else "not found"
            raise FileNotFoundError(f"--arch {str(arch)!r} {what}; write one with `nas sample --out arch.json`")
        try:
            text = path.read_bytes()
        except OSError as e:  # no permission: one line, no errno
            raise ValueError(f"--arch {str(arch)!r} cannot be read: {e.strerror or e}") from None
        try:
            arch = Arch.from_json(text)
        except InvalidArchitecture as e:  # name the file: "--arch 'a.json': arch is not valid JSON: ..."
            raise InvalidArchitecture(f"--arch {str(arch)!r}: {e}") from None
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"--seed {seed!r}: must be an integer in 0..2**63-1")
    if input_shape is not None:
        input_shape = _shape(input_shape)
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
    ):
        raise ValueError(f"--num-classes {num_classes!r}: must be a positive integer")
    out = _check_out(out_dir, force=force)
    if onnx:
        _check_onnx()

    notes: list[str] = []
    if dataset is not None:
        shape, classes, mean, std = _dataset_facts(dataset, data_dir=data_dir, input_shape=input_shape, seed=seed)
        if input_shape is not None and input_shape[0] != shape[0]:
            raise ValueError(
                f"--input-shape {_shape_text(input_shape)} has {input_shape[0]} channel(s) but {dataset!r} "
                f"images have {shape[0]}"
            )
        if num_classes is not None and num_classes != len(classes):
            raise ValueError(f"--num-classes {num_classes} but {dataset!r} has {len(classes)} classes")
        if input_shape is not None and input_shape != shape:
            notes.append(
                f"MEAN/STD are those of the {dataset_label(dataset)} images at {_shape_text(shape)} "
                f"(their files were not found to measure them at {_shape_text(input_shape)})"
            )
        input_shape = input_shape or shape
        num_classes = len(classes)
    else:
        input_shape = input_shape or (1, 28, 28)
        num_classes = num_classes or 10
        classes = [str(i) for i in range(num_classes)]
        mean, std = (0.0,) * input_shape[0], (1.0,) * input_shape[0]

    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build(arch, input_shape, num_classes).eval()
    k = cost(arch, input_shape, num_classes)
    arch_hash = arch.hash()
    result = ExportResult(
        out_dir=str(out),
        files={},
        search=None,
        trial=None,
        arch_hash=arch_hash,
        weights_source="fresh",
        input_shape=tuple(input_shape),
        num_classes=num_classes,
        params=k.params,
        flops=k.flops,
        val_accuracy=None,
        test_accuracy=None,
        test_std=None,
        test_seeds=0,
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        notes=notes,
        classes=tuple(classes),
        dataset=dataset_label(dataset) if dataset else None,
    )
    contents = bundle(
        arch,
        model,
        arch_hash=arch_hash,
        input_shape=result.input_shape,
        num_classes=num_classes,
        classes=result.classes,
        mean=result.mean,
        std=result.std,
        docstring=_docstring(result, {"meta": {"seed": seed}}),
        metadata={"arch_hash": arch_hash, "source": "fresh", "seed": str(seed)},
    )
    files = write_files(out, contents, onnx_model=model if onnx else None, input_shape=result.input_shape)
    return dataclasses.replace(result, files=files)


def _shape(v) -> tuple[int, int, int]:
    t = tuple(v) if isinstance(v, (tuple, list)) else ()
    if len(t) != 3 or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in t):
        raise ValueError(f"--input-shape {v!r}: must be three positive integers C,H,W")
    return t  # type: ignore[return-value]


def _shape_text(shape) -> str:
    return ",".join(str(v) for v in shape)


def parse_shape(text: str) -> tuple[int, int, int]:
    """`"C,H,W"` (also `CxHxW`) as a shape; ValueError with a one-line reason otherwise."""
    parts = text.replace("x", ",").split(",")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"--input-shape {text!r}: give three positive integers C,H,W such as 1,28,28") from None
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"--input-shape {text!r}: give three positive integers C,H,W such as 1,28,28")
    return shape  # type: ignore[return-value]


def _dataset_facts(dataset: str, *, data_dir, input_shape, seed: int):
    """(input shape, class names, mean, std) of `dataset`'s whole training split: the registry's
    when it knows them, else measured by loading the dataset (no download)."""
    from workers.datasets import DatasetNotFound, load_dataset
    from workers.datasets._registry import known_classes, known_stats

    classes = known_classes(dataset, data_dir=data_dir)
    stats = known_stats(dataset)
    if classes is not None and stats is not None and (input_shape is None or input_shape == stats[0]):
        return stats[0], classes, stats[1], stats[2]
    image_size = None
    if input_shape is not None:
        if input_shape[1] != input_shape[2]:
            raise ValueError(
                f"--input-shape {_shape_text(input_shape)}: with --dataset the images are resized square; give H == W"
            )
        image_size = input_shape[1]
    try:
        data = load_dataset(
            dataset, data_dir=data_dir, image_size=image_size, val_fraction=0.0, seed=seed, download=False
        )
    except DatasetNotFound:
        if classes is None or stats is None or stats[0][0] != input_shape[0]:
            raise
        return stats[0], classes, stats[1], stats[2]  # the note in export_arch says so
    return data.input_shape, data.classes, data.mean, data.std


def dataset_label(name: str) -> str:
    """A dataset name without its folders (`imagefolder:/data/flowers` -> `imagefolder:flowers`):
    exported files carry no absolute paths."""
    kind, sep, path = str(name).partition(":")
    return f"{kind}:{Path(path).name}" if sep else kind


def _search_classes(store, search: str, num_classes: int) -> list[str]:
    """The class names of the search's dataset when known without reading images, else "0".."K-1"."""
    from workers.datasets import DatasetError
    from workers.datasets._registry import known_classes

    rec = store.get_search(search)
    names = None
    if rec is not None:
        try:
            names = known_classes(rec.dataset, data_dir=(rec.config or {}).get("data_dir"))
        except (DatasetError, OSError):
            names = None
    if names is None or len(names) != num_classes:
        return [str(i) for i in range(num_classes)]
    return list(names)


# ---- the files -----------------------------------------------------------------------------
def bundle(
    arch,
    model,
    *,
    arch_hash: str,
    input_shape: tuple[int, int, int],
    num_classes: int,
    classes,
    mean,
    std,
    docstring: str,
    metadata: dict[str, str],
) -> dict[str, bytes]:
    """The bytes of model.py, hubconf.py, arch.json and weights.safetensors for `model` (built
    from `arch`), a deterministic function of its arguments (also used by `nas train`)."""
    from nas.ir import to_source
    from workers.runner import state_dict_bytes

    classes = [str(c) for c in classes]
    if len(classes) != num_classes:
        raise ExportError(f"{len(classes)} class names for {num_classes} classes")
    source = to_source(arch, input_shape, num_classes, class_name="Net", docstring=docstring)
    source += trailer(arch_hash, input_shape, num_classes, classes, mean, std)
    return {
        "model.py": source.encode(),
        "hubconf.py": hubconf_source(arch_hash).encode(),
        "arch.json": (arch.to_json(indent=2) + "\n").encode(),
        "weights.safetensors": canonical_safetensors(state_dict_bytes(model, metadata=metadata)),
    }


def write_files(out: Path, contents: dict[str, bytes], *, onnx_model=None, input_shape=None) -> dict[str, str]:
    """Write `contents` (name -> bytes), and model.onnx of `onnx_model`, into `out`.

    Everything is produced in a scratch directory next to `out`, then moved in; export files
    of an earlier export that this one does not write (a stale model.onnx) are removed first.
    Returns file name -> path.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".nas-export-", dir=out.parent))
    try:
        for fname, data in contents.items():
            (scratch / fname).write_bytes(data)
        if onnx_model is not None:
            _write_onnx(onnx_model, input_shape, scratch / "model.onnx")
        out.mkdir(parents=True, exist_ok=True)
        for fname in sorted(set(FILES) | set(contents)):  # with --force: no stale model.onnx
            target = out / fname
            if target.is_dir():
                raise FileExistsError(f"{str(target)!r} is a directory; remove it or pick another --out")
            if target.exists():
                target.unlink()
        files = {}
        umask = os.umask(0)
        os.umask(umask)
        for f in sorted(scratch.iterdir()):
            os.chmod(f, 0o666 & ~umask)  # the scratch directory's private mode is not the files'
            os.replace(f, out / f.name)
            files[f.name] = str(out / f.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return files


def canonical_safetensors(data: bytes) -> bytes:
    """safetensors bytes with a deterministic header: the writer orders the metadata as a hash
    map does (differently in every process); here it is sorted. Tensor data is untouched."""
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", None)
    ordered: dict[str, Any] = {}
    if meta:
        ordered["__metadata__"] = dict(sorted(meta.items()))
    for key in sorted(header, key=lambda k: (header[k]["data_offsets"][0], k)):
        ordered[key] = header[key]
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # the format aligns the data to 8 bytes
    return len(text).to_bytes(8, "little") + text + data[8 + n :]


def _weights(store, search: str, t, *, retrain: bool, epochs: int, seed: int, device, progress) -> dict:
    """The state dict to export and where it came from: stored bytes, or a final-protocol run."""
    import torch
    from safetensors.torch import load as load_safetensors

    notes: list[str] = []
    rec = store.get_search(t.search_name)
    stored = None if retrain else stored_weights(store, t)
    if stored is not None:
        kind, data, meta = stored
        state = load_safetensors(data)  # safetensors: plain tensors, no code runs
        head = [k for k in state if k.endswith(CLASSIFIER_WEIGHT) or k == DENSE_HEAD_WEIGHT]
        if not head:
            raise ExportError(f"the stored {kind} of trial {t.optuna_number} hold no classifier; use --retrain")
        num_classes = int(state[head[0]].shape[0])
        shape = meta.get("shape")
        mean, std = meta.get("mean"), meta.get("std")
        if shape is None or mean is None:
            stats = _search_stats(store, t.search_name, final=kind == "final_weights")
            if stats is not None:
                shape = shape or stats[0]
                mean, std = stats[1], stats[2]
        if shape is None:
            raise ExportError(f"the input shape of trial {t.optuna_number}'s weights is not stored; use --retrain")
        if mean is None and rec is not None:
            known = _known_stats(rec.dataset)
            if known is not None and tuple(known[0]) == tuple(shape):
                mean, std = known[1], known[2]
                notes.append(
                    "the search's normalisation is not stored and its dataset is not readable here: "
                    "MEAN/STD are those of the whole training split"
                )
        return {
            "state": state,
            "source": kind,
            "shape": tuple(shape),
            "num_classes": num_classes,
            "mean": _tuple(mean),
            "std": _tuple(std),
            "meta": meta,
            "notes": notes,
            "dataset": meta.get("dataset") or (rec.dataset if rec else None),
        }
    from nas.final.evaluate import final_setup, load_final_data
    from nas.final.protocol import final_train
    from nas.ir import Arch

    if not retrain:
        notes.append(
            "no weights were stored for this trial (a search keeps those of its top K trials by validation: "
            f"--save-weights), so it was retrained now with the final protocol ({epochs} epoch(s), seed {seed})"
        )
    setup = final_setup(store, t.search_name, epochs=epochs, device=device)
    data = load_final_data(setup)
    arch = Arch.from_json(store.get_architecture(t.arch_hash).canonical_json)
    res = final_train(arch, dataset=setup.dataset, train=setup.train, seed=seed, data=data, progress=progress)
    state = {
        k: v.detach().to("cpu", torch.float32) if v.is_floating_point() else v.detach().cpu()
        for k, v in res.model.state_dict().items()
    }
    meta = {"epochs": epochs, "seed": seed, "test_accuracy": res.test_accuracy, "dataset": setup.dataset}
    return {
        "state": state,
        "source": "retrained",
        "shape": tuple(res.input_shape),
        "num_classes": res.num_classes,
        "mean": tuple(data.mean),
        "std": tuple(data.std),
        "meta": meta,
        "notes": notes,
        "dataset": setup.dataset,
        "classes": data.classes,
    }


def _known_stats(dataset: str):
    from workers.datasets import DatasetError
    from workers.datasets._registry import known_stats

    try:
        return known_stats(dataset)
    except DatasetError:
        return None


def _search_stats(store, search: str, *, final: bool):
    """(input shape, mean, std) of the split the weights were trained on, or None when the
    dataset cannot be read here (no download is attempted)."""
    from workers.datasets import DatasetError, load_dataset

    rec = store.get_search(search)
    c = rec.config if rec else {}
    try:
        data = load_dataset(
            rec.dataset,
            data_dir=c.get("data_dir"),
            image_size=c.get("image_size"),
            val_fraction=0.0 if final else c.get("val_fraction", 0.1),
            seed=int(c.get("seed") or 0),
            subset=None if final else c.get("subset"),
            download=False,
        )
    except (DatasetError, OSError, ValueError):
        return None
    return data.input_shape, data.mean, data.std


def _tuple(v) -> tuple[float, ...] | None:
    return None if v is None else tuple(float(x) for x in v)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def _docstring(r: ExportResult, plan: dict) -> str:
    meta = plan.get("meta") or {}
    if r.weights_source == "fresh":
        provenance = [("Source", "an architecture file, no search (`nas export --arch`)")]
        weights = f"freshly initialised (seed {meta.get('seed', '?')}), not trained"
    else:
        if r.test_accuracy is not None:
            spread = f" ± {r.test_std:.4f}" if r.test_std is not None else ""
            test = (
                f"{r.test_accuracy:.4f}{spread} on the test split over {r.test_seeds} seed(s), each run retrained "
                "on the whole training split (final protocol, `nas evaluate`); shown, never chosen on"
            )
        else:
            test = "not evaluated yet (run `nas evaluate` for an honest test-set number)"
        chosen = {
            "best validation": f"`nas export --best`: the best validation {r.score} (Pareto front first when "
            f"the search has several objectives); not by test {r.score}",
            "trial": "by trial number (`nas export --trial`)",
            "hash": "by architecture hash (`nas export --hash`)",
        }.get(r.selected_by or "", "")
        provenance = [
            ("Search", f"{r.search!r}, trial {r.trial}"),
            ("Validation", f"{r.score} {_fmt(r.val_accuracy)} on the search's validation hold-out (selection)"),
            ("Test", test),
        ] + ([("Chosen", chosen)] if chosen else [])
        weights = {
            "final_weights": f"trained with the final protocol (whole training split, {meta.get('epochs', '?')} "
            f"epochs, seed {meta.get('seed', '?')}) by `nas evaluate`",
            "weights": "the search's own training run of this trial (training split minus the validation hold-out)",
            "retrained": f"trained with the final protocol at export ({meta.get('epochs', '?')} epochs, seed "
            f"{meta.get('seed', '?')}): test accuracy {_fmt(meta.get('test_accuracy'))}",
        }[r.weights_source]
    return model_docstring(
        arch_hash=r.arch_hash,
        provenance=provenance,
        weights=weights,
        input_shape=r.input_shape,
        num_classes=r.num_classes,
        classes=r.classes,
        mean=r.mean,
        std=r.std,
        dataset=r.dataset,
        params=r.params,
        flops=r.flops,
        dense=bool(plan.get("dense")),
    )


def model_docstring(
    *,
    arch_hash: str,
    provenance: list[tuple[str, str]],
    weights: str,
    input_shape,
    num_classes: int,
    classes,
    mean,
    std,
    dataset: str | None,
    params: int,
    flops: int,
    dense: bool = False,
) -> str:
    """The docstring of an exported model.py: what it is, where its weights come from, how to use it
    (`dense`: a per-pixel model, (N, C, H, W) -> (N, K, H, W) logits)."""
    c, h, w = input_shape
    names = list(classes)
    shown = ", ".join(repr(n) for n in names[:10]) + (f", ... ({len(names)} in all)" if len(names) > 10 else "")
    of = f"of {dataset}" if dataset else "none given: class indices"
    if mean is not None:
        norm = (
            f"x = (pixels / 255 - MEAN) / STD per channel, with\n"
            f"    MEAN = {tuple(round(m, 6) for m in mean)}\n    STD = {tuple(round(s, 6) for s in std)}"
        )
        if not dataset and all(m == 0 for m in mean) and all(s == 1 for s in std):
            norm += "\n    (no dataset given: pass --dataset NAME to `nas export --arch` for its statistics)"
    else:
        norm = "x = (pixels / 255 - mean) / std per channel, with the training split's mean and std (not known here)"
    rows = [("Hash", arch_hash), *provenance, ("Weights", f"weights.safetensors, {weights}")]
    rows += [("Classes", f"{num_classes} ({of}): {shown}")]
    rows += [("Size", f"{params:,} parameters; {flops:,} multiply-accumulates per image")]
    table = "\n".join(f"{k + ':':<12} {v}" for k, v in rows)
    if dense:
        output = (
            f"Output: (N, {num_classes}, H, W) logits per pixel, at the input's size (any H, W: Net itself\n"
            f"    maps (N, {c}, H, W) to (N, {num_classes}, H, W)); CLASSES[i] names class i."
        )
        labels = "masks = logits.argmax(1)                # (N, H, W) class ids"
    else:
        output = f"Output: (N, {num_classes}) logits; CLASSES[i] names class i."
        labels = "labels = [CLASSES[i] for i in logits.argmax(1)]"
    return f"""nas architecture {arch_hash[:12]}, exported by nas.

{table}

Input: float32 (N, {c}, {h}, {w}) = preprocess(images), normalised as in training:
    {norm}
{output}

Load (needs only torch and safetensors):
    from safetensors.torch import load_file
    model = Net()
    model.load_state_dict(load_file("weights.safetensors"), strict=True); model.eval()
    logits = model(preprocess(images))   # uint8 (N, C, H, W), (C, H, W), (H, W) tensors or PIL images
    {labels}
or: model = torch.hub.load("path/to/this/folder", "net", source="local", pretrained=True)
"""


def trailer(arch_hash: str, input_shape, num_classes: int, classes, mean, std) -> str:
    """The module-level constants and `preprocess` appended to `nas.ir.to_source`'s output."""
    mean_text = "None" if mean is None else repr(tuple(float(m) for m in mean))
    std_text = "None" if std is None else repr(tuple(float(s) for s in std))
    class_lines = "".join(f"    {str(n)!r},\n" for n in classes)
    return (
        "\n\n# ---- what the weights expect (see the module docstring) ----\n"
        f"ARCH_HASH = {arch_hash!r}\n"
        f"INPUT_SHAPE = {tuple(int(v) for v in input_shape)!r}  # (C, H, W)\n"
        f"NUM_CLASSES = {int(num_classes)}\n"
        f"CLASSES = [\n{class_lines}]\n"
        f"MEAN = {mean_text}  # per channel, of pixels / 255\n"
        f"STD = {std_text}\n" + _PREPROCESS
    )


_PREPROCESS = '''

def preprocess(images):
    """Images -> the float32 batch (N, C, H, W) that Net expects: INPUT_SHAPE, normalised.

    images: a uint8 tensor (N, C, H, W), (C, H, W) or (H, W) of pixels 0..255 (a float
    tensor is read as pixels in [0, 1]; channels come first); a PIL image; or a list of
    these. Pillow is imported only for PIL images. Channels become INPUT_SHAPE's: grey is
    repeated to RGB, RGB becomes grey by luminance (ITU-R 601-2, as Pillow's "L"), alpha is
    dropped (or added, opaque). Other sizes are resized bilinearly (antialiased) to
    INPUT_SHAPE's H, W. Then x = (pixels / 255 - MEAN) / STD per channel, on the input's device.
    """
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("preprocess: got an empty list of images")
        return torch.cat([preprocess(image) for image in images])
    if MEAN is None or STD is None:
        raise ValueError("preprocess: this export does not know the training mean and std")
    c, h, w = INPUT_SHAPE
    x = images if isinstance(images, torch.Tensor) else _pil_pixels(images, c, h, w)
    if x.dim() == 2:
        x = x[None, None]
    elif x.dim() == 3:
        if x.shape[0] not in (1, 2, 3, 4, c):
            raise ValueError(
                f"preprocess: a 3-d tensor is one image (C, H, W), got {tuple(x.shape)}; for "
                "channels-last pass x.permute(2, 0, 1), for a batch of grey images x[:, None]"
            )
        x = x[None]
    elif x.dim() != 4:
        raise ValueError(f"preprocess: expected (N, C, H, W), (C, H, W) or (H, W), got {tuple(x.shape)}")
    if x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"preprocess: images of {x.dtype}; pass uint8 pixels 0..255")
    integer = not x.is_floating_point()
    if x.numel():
        lo, hi = float(x.min()), float(x.max())
        if integer and (lo < 0 or hi > 255):
            raise ValueError(f"preprocess: pixel values span [{lo:g}, {hi:g}]; expected 0..255")
        if not integer and (lo < 0 or hi > 1):
            raise ValueError(
                f"preprocess: float pixels span [{lo:g}, {hi:g}]; expected [0, 1] (pass 0..255 values as uint8)"
            )
    x = x.to(torch.float32) if integer else x.to(torch.float32) * 255.0
    x = _to_channels(x, c)
    if tuple(x.shape[-2:]) != (h, w):
        x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    if integer:
        x = x.round()  # whole pixel values, as the training images were
    x = x.clamp(0.0, 255.0)
    mean = torch.tensor(MEAN, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    return x.div_(255.0).sub_(mean).div_(std)


def _to_channels(x, c):
    """(N, k, H, W) pixels -> (N, c, H, W): grey <-> RGB, alpha dropped or added."""
    k = x.shape[1]
    if k == c:
        return x
    if not (1 <= k <= 4 and 1 <= c <= 4):
        raise ValueError(
            f"preprocess: images have {k} channels, the model takes {c}; channels-last batches "
            "need x.permute(0, 3, 1, 2)"
        )
    if k in (2, 4):  # drop alpha
        x, k = x[:, : k - 1], k - 1
    base = c - 1 if c in (2, 4) else c
    if k == 3 and base == 1:
        x = (x[:, 0:1] * 299.0 + x[:, 1:2] * 587.0 + x[:, 2:3] * 114.0) / 1000.0
    elif k == 1 and base == 3:
        x = x.expand(-1, 3, -1, -1)
    if base != c:  # add an opaque alpha channel
        x = torch.cat([x, torch.full_like(x[:, :1], 255.0)], dim=1)
    return x


def _pil_pixels(image, c, h, w):
    """A PIL image as uint8 (c, h, w): converted to c channels and resized as the training images were."""
    try:
        from PIL import Image
    except ImportError:
        Image = None
    if Image is None or not isinstance(image, Image.Image):
        raise TypeError(
            f"preprocess: got {type(image).__name__}; pass a uint8 tensor (N, C, H, W), (C, H, W) or (H, W), "
            "a PIL image (pip install pillow), or a list of them"
        )
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}.get(c)
    if mode is None:
        raise ValueError(f"preprocess: a PIL image cannot give {c} channels; pass a tensor")
    if image.mode != mode:
        image = image.convert(mode)
    if image.size != (w, h):
        image = image.resize((w, h), Image.BILINEAR)
    pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return pixels.view(h, w, c).permute(2, 0, 1)
'''


def hubconf_source(arch_hash: str) -> str:
    """hubconf.py: `torch.hub.load(DIR, "net", source="local", pretrained=True)`."""
    return _HUBCONF.replace("@HASH@", arch_hash[:12])


_HUBCONF = '''"""torch.hub entry point of this folder, written by `nas export` (nas architecture @HASH@).

    model = torch.hub.load("path/to/this/folder", "net", source="local", pretrained=True)
    x = model.preprocess(images)         # model.py's preprocess: uint8 tensors or PIL images
    labels = [model.classes[i] for i in model(x).argmax(1)]

`net` builds `Net` from model.py next to this file; pretrained=True loads weights.safetensors
next to it (strict) and returns the model in eval mode, pretrained=False freshly initialised
(in train mode). The model carries `classes` (model.py's CLASSES) and `preprocess`.
"""

dependencies = ["torch", "safetensors"]


def net(pretrained=True):
    """The network @HASH@ of model.py; with the weights of weights.safetensors if `pretrained`."""
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    module = _model_module(os.path.join(here, "model.py"))
    model = module.Net()
    if pretrained:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(os.path.join(here, "weights.safetensors")), strict=True)
        model.eval()
    model.classes = list(module.CLASSES)
    model.preprocess = module.preprocess
    return model


def _model_module(path):
    """model.py imported by path, under a name of its own (no clash with any other `model`)."""
    import hashlib
    import importlib.util
    import sys

    name = "nas_export_" + hashlib.sha256(path.encode()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
'''


# ---- ONNX ----------------------------------------------------------------------------------
def _check_onnx() -> None:
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise ExportError(f"--onnx needs the {' and '.join(missing)} package(s): {ONNX_HINT}")


def _write_onnx(model, input_shape, path: Path) -> None:
    """model.onnx with a dynamic batch axis ("batch"), input "input", output "logits".

    The dynamo exporter records a stack trace (with absolute paths) and other debugging
    metadata on every node; it is dropped so that the file is the same on every machine.
    """
    import contextlib
    import io
    import logging
    import warnings

    import torch

    x = torch.zeros(2, *input_shape)
    log = io.StringIO()
    onnx_logger = logging.getLogger("torch.onnx")
    level = onnx_logger.level
    try:
        # the exporter narrates its passes on stdout and warns about torchvision ops we never use
        onnx_logger.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(log):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (x,),
                str(path),
                input_names=["input"],
                output_names=["logits"],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                dynamo=True,
                external_data=False,
            )
    except Exception as e:  # noqa: BLE001 - one line for the user, the log for NAS_DEBUG
        if os.environ.get("NAS_DEBUG"):
            sys.stderr.write(log.getvalue())
            raise
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExportError(f"ONNX export failed: {why}") from None
    finally:
        onnx_logger.setLevel(level)
    _strip_onnx_debug(path)


def _strip_onnx_debug(path: Path) -> None:
    import onnx

    proto = onnx.load(str(path))

    def strip(graph) -> None:
        graph.doc_string = ""
        for node in graph.node:
            del node.metadata_props[:]
            node.doc_string = ""
            for attr in node.attribute:
                if attr.HasField("g"):
                    strip(attr.g)
                for g in attr.graphs:
                    strip(g)

    strip(proto.graph)
    for fn in proto.functions:
        for node in fn.node:
            del node.metadata_props[:]
            node.doc_string = ""
    proto.doc_string = ""
    onnx.save(proto, str(path))


# ---- load ----------------------------------------------------------------------------------
def load(out_dir: str | os.PathLike, *, class_name: str = "Net"):
    """The exported model of `out_dir` with its weights (strict), in eval mode.

    Imports DIR/model.py by path (it needs only torch) and loads DIR/weights.safetensors;
    nothing is unpickled.
    """
    from safetensors.torch import load_file

    d = Path(out_dir)
    for fname in ("model.py", "weights.safetensors"):
        if not (d / fname).is_file():
            raise FileNotFoundError(f"{str(d / fname)!r} not found; write it with `nas export --out {d}`")
    module_name = f"nas_exported_{abs(hash(str(d.resolve()))):x}"
    spec = importlib.util.spec_from_file_location(module_name, d / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, class_name)()
    model.load_state_dict(load_file(str(d / "weights.safetensors")), strict=True)
    return model.eval()


def describe(result: ExportResult) -> dict[str, Any]:
    """JSON-ready form of an `ExportResult`."""
    from dataclasses import asdict

    d = asdict(result)
    d["input_shape"] = list(result.input_shape)
    return d
