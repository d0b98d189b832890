"""Export one architecture of a search as files that need only torch (and safetensors).

    result = nas.export("sqlite:///nas.db", "best_model", best=True)   # nas.final.export.export
    model = nas.load("best_model")        # nas.final.export.load: nn.Module with the weights, in eval mode

The directory gets:
    model.py              a standalone module (imports only torch) defining ``Net``; its
                          docstring gives the hash, the search, the metrics, the input
                          normalisation and how to load the weights
    weights.safetensors   the weights (safetensors: nothing is ever unpickled)
    arch.json             the architecture (`nas.Arch.from_json`; `nas train --arch`)
    model.onnx            with ``onnx=True`` (needs ``pip install onnx onnxscript``)

Weights come from the database: the 'final_weights' a `nas evaluate` run stored (the final
protocol: whole training split), else the 'weights' the search stored for the trial. With
``retrain=True``, or when neither is stored, the architecture is trained here with the final
protocol (`nas.final.final_train`); that run is not recorded in the database.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from db import NotFoundError

FILES = ("model.py", "weights.safetensors", "arch.json", "model.onnx", "model.onnx.data")
ONNX_HINT = "pip install onnx onnxscript"


class ExportError(ValueError):
    """An export the user asked for cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class ExportResult:
    """What `export` wrote and where the model came from."""

    out_dir: str
    files: dict[str, str]  # file name -> path
    search: str
    trial: int
    arch_hash: str
    weights_source: str  # 'final_weights' | 'weights' | 'retrained'
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


# ---- selection -----------------------------------------------------------------------------
def select(store, *, search: str | None = None, trial: int | None = None, hash: str | None = None, best: bool = False):
    """The trial an export is about. Returns (search name, TrialRecord).

    ``best``: the best test accuracy among evaluated architectures of the search, else the
    best validation accuracy. Default (nothing given): ``best``.
    """
    from nas.final.evaluate import find_arch, find_trial, resolve_search, trials_of

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
        cands.sort(
            key=lambda t: (
                t.state != "complete",
                t.test_accuracy_mean is None,
                -(t.test_accuracy_mean or 0.0),
                -(t.val_accuracy or 0.0),
                t.id,
            )
        )
        return cands[0].search_name, cands[0]
    name = resolve_search(store, search)
    rows = store.leaderboard(name)
    if not rows:
        raise NotFoundError(f"search {name!r} has no completed trials to export")
    evaluated = [r for r in rows if r.test_accuracy is not None]
    if evaluated:
        rows = sorted(evaluated, key=lambda r: (-r.test_accuracy, -(r.val_accuracy or 0.0), r.params))
    t = store.get_trial(name, rows[0].trial)
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
    epochs: int = 30,
    seed: int = 0,
    device: str | None = None,
    progress: bool = False,
) -> ExportResult:
    """Write model.py, weights.safetensors, arch.json (and model.onnx) for one trial.

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

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {str(out)!r} is a file; give a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise FileExistsError(f"--out {str(out)!r} is not empty; pass --force to overwrite or pick another directory")
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
    with db.connect(str(db_url), create=False) as store:
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


def _export(
    store, out: Path, *, search, trial, hash, best, onnx, retrain, epochs, seed, device, progress
) -> ExportResult:
    name, t = select(store, search=search, trial=trial, hash=hash, best=best)
    if t.arch_hash is None:
        raise NotFoundError(f"trial {t.optuna_number} of search {name!r} has no architecture recorded")
    plan = _weights(store, name, t, retrain=retrain, epochs=epochs, seed=seed, device=device, progress=progress)

    from nas.ir import Arch, build, cost, to_source

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
    )
    source = to_source(
        arch, result.input_shape, result.num_classes, class_name="Net", docstring=_docstring(result, plan)
    )
    source += _trailer(result)

    # everything is produced in a scratch directory next to `out`, then moved in
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".nas-export-", dir=out.parent))
    try:
        (scratch / "model.py").write_text(source)
        (scratch / "arch.json").write_text(arch.to_json(indent=2) + "\n")
        from workers.runner import state_dict_bytes

        (scratch / "weights.safetensors").write_bytes(
            state_dict_bytes(
                model,
                metadata={
                    "arch_hash": rec.hash,
                    "search": name,
                    "trial": str(t.optuna_number),
                    "source": plan["source"],
                },
            )
        )
        if onnx:
            _write_onnx(model, result.input_shape, scratch / "model.onnx")
        out.mkdir(parents=True, exist_ok=True)
        for fname in FILES:  # with --force: no stale model.onnx from an earlier export
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
    return dataclasses.replace(result, files=files)


def _weights(store, search: str, t, *, retrain: bool, epochs: int, seed: int, device, progress) -> dict:
    """The state dict to export and where it came from: stored bytes, or a final-protocol run."""
    import torch
    from safetensors.torch import load as load_safetensors

    notes: list[str] = []
    stored = None if retrain else stored_weights(store, t)
    if stored is not None:
        kind, data, meta = stored
        state = load_safetensors(data)  # safetensors: plain tensors, no code runs
        head = [k for k in state if k.endswith("head.2.weight")]
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
        return {
            "state": state,
            "source": kind,
            "shape": tuple(shape),
            "num_classes": num_classes,
            "mean": _tuple(mean),
            "std": _tuple(std),
            "meta": meta,
            "notes": notes,
        }
    from nas.final.evaluate import final_setup, load_final_data
    from nas.final.protocol import final_train
    from nas.ir import Arch

    if not retrain:
        notes.append("no weights were stored for this trial, so it was trained with the final protocol")
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
    }


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
    if r.test_accuracy is not None:
        spread = f" ± {r.test_std:.4f}" if r.test_std is not None else ""
        test = f"{r.test_accuracy:.4f}{spread} over {r.test_seeds} seed(s) (final protocol, `nas evaluate`)"
    else:
        test = "not evaluated yet (run `nas evaluate` for an honest test-set number)"
    source = {
        "final_weights": f"trained with the final protocol (whole training split, {meta.get('epochs', '?')} epochs, "
        f"seed {meta.get('seed', '?')}) by `nas evaluate`",
        "weights": "the search's own training run of this trial (training split minus the validation hold-out)",
        "retrained": f"trained with the final protocol at export ({meta.get('epochs', '?')} epochs, seed "
        f"{meta.get('seed', '?')}): test accuracy {_fmt(meta.get('test_accuracy'))}",
    }[r.weights_source]
    c, h, w = r.input_shape
    if r.mean is not None:
        norm = (
            f"x = (pixels / 255 - MEAN) / STD per channel, with\n"
            f"    MEAN = {tuple(round(m, 6) for m in r.mean)}\n    STD = {tuple(round(s, 6) for s in r.std)}"
        )
    else:
        norm = "x = (pixels / 255 - mean) / std per channel, with the training split's mean and std"
    return f"""skipdag architecture {r.arch_hash[:12]}, exported by nas.

Hash:        {r.arch_hash}
Search:      {r.search!r}, trial {r.trial}
Validation:  accuracy {_fmt(r.val_accuracy)} (the search's selection metric)
Test:        {test}
Weights:     weights.safetensors, {source}
Size:        {r.params:,} parameters; {r.flops:,} multiply-accumulates per image

Input: float32 (N, {c}, {h}, {w}), normalised as in training:
    {norm}
Output: (N, {r.num_classes}) logits.

Load (needs only torch and safetensors):
    from safetensors.torch import load_file
    model = Net()
    model.load_state_dict(load_file("weights.safetensors"), strict=True); model.eval()
"""


def _trailer(r: ExportResult) -> str:
    mean = "None" if r.mean is None else repr(tuple(round(m, 6) for m in r.mean))
    std = "None" if r.std is None else repr(tuple(round(s, 6) for s in r.std))
    return (
        "\n\n# what the weights expect (see the module docstring)\n"
        f"ARCH_HASH = {r.arch_hash!r}\n"
        f"INPUT_SHAPE = {tuple(r.input_shape)!r}\n"
        f"NUM_CLASSES = {r.num_classes}\n"
        f"MEAN = {mean}\n"
        f"STD = {std}\n"
    )


# ---- ONNX ----------------------------------------------------------------------------------
def _check_onnx() -> None:
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise ExportError(f"--onnx needs the {' and '.join(missing)} package(s): {ONNX_HINT}")


def _write_onnx(model, input_shape, path: Path) -> None:
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
