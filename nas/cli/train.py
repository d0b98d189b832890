"""`nas train`: train one architecture with the final protocol and report test accuracy."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from nas.cli._commands import field_option
from nas.final.protocol import FinalConfig
from workers.records import LOSSES, TrainConfig


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train one architecture (final protocol) and evaluate it on the test split",
        description="Train on the full training split, then evaluate once on the test split. Writes "
        "weights.safetensors, metrics.json, arch.json, model.py (Net, CLASSES, MEAN, STD, INPUT_SHAPE, "
        "preprocess) and hubconf.py to --out, in the form `nas export` writes.",
    )
    p.set_defaults(run=run)
    p.add_argument("--arch", required=True, metavar="FILE.json", help="architecture JSON (nas sample / nas export)")
    p.add_argument("--dataset", default="fashion-mnist", help="dataset to train and test on (default: fashion-mnist)")
    p.add_argument("--data-dir", help="where the dataset's files are (default: the dataset's standard places)")
    p.add_argument("--image-size", type=int, help="resize images to this side (default: the dataset's own size)")
    p.add_argument("--epochs", type=int, default=FinalConfig.epochs, help=f"(default: {FinalConfig.epochs})")
    field_option(p, "--batch-size", TrainConfig, "batch_size", type=int)
    field_option(p, "--lr", TrainConfig, "lr", type=float)
    field_option(p, "--loss", TrainConfig, "loss", choices=LOSSES, metavar="|".join(LOSSES))
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and data order (default: 0)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--out", default="runs/train", help="output directory (default: runs/train)")
    p.add_argument("--force", action="store_true", help="overwrite files in --out")


def run(args) -> int:
    from nas.ir import cost

    # every input and output is checked before anything slow starts (a dataset, training)
    arch = read_arch(args.arch)
    from nas.final.export import FILES, bundle, dataset_label, model_docstring, write_files
    from nas.final.protocol import final_train

    outputs = ["weights.safetensors", "metrics.json", "arch.json", "model.py", "hubconf.py"]
    check_out_dir(args.out, outputs, force=args.force, replaced=FILES)
    from workers.datasets import load_dataset

    overrides = {k: getattr(args, k) for k in ("batch_size", "lr", "loss") if getattr(args, k) is not None}
    train = FinalConfig.train_config(epochs=args.epochs, device=args.device, **overrides)
    # loaded here (as final_train would) to keep its class names and statistics for model.py
    data = load_dataset(
        args.dataset, data_dir=args.data_dir, image_size=args.image_size, val_fraction=0.0, seed=args.seed
    )
    res = final_train(arch, dataset=args.dataset, train=train, seed=args.seed, data=data, progress=True)
    arch_hash = arch.hash()
    k = cost(arch, res.input_shape, res.num_classes)
    label = dataset_label(data.name)
    docstring = model_docstring(
        arch_hash=arch_hash,
        provenance=[("Test", f"accuracy {res.test_accuracy:.4f} on the {label} test split (one run, `nas train`)")],
        weights=f"trained with the final protocol by `nas train` (whole {label} training split, "
        f"{res.train['epochs_run']} epochs, seed {args.seed})",
        input_shape=res.input_shape,
        num_classes=res.num_classes,
        classes=data.classes,
        mean=data.mean,
        std=data.std,
        dataset=label,
        params=k.params,
        flops=k.flops,
    )
    contents = bundle(
        arch,
        res.model,
        arch_hash=arch_hash,
        input_shape=res.input_shape,
        num_classes=res.num_classes,
        classes=data.classes,
        mean=data.mean,
        std=data.std,
        docstring=docstring,
        metadata={"arch_hash": arch_hash, "source": "nas train", "dataset": label, "seed": str(args.seed)},
    )
    metrics = {"arch_hash": arch_hash, **res.metrics()}
    contents["metrics.json"] = json.dumps(metrics, indent=2).encode()
    write_files(Path(args.out), contents)
    t = res.train
    print(
        f"test accuracy {res.test_accuracy:.4f}  test loss {res.test_loss:.4f}  "
        f"({t['epochs_run']} epochs, {t['train_seconds']:.1f}s training, {t['images_per_second']:.0f} img/s, "
        f"{t['device']}); wrote {args.out}/",
        file=sys.stdout,
    )
    return 0


def read_arch(path: str):
    """The architecture in the JSON file `path` (`--arch`), checked; one-line errors naming it."""
    from nas.ir import Arch, InvalidArchitecture
    from nas.ir.limits import MAX_ARCH_BYTES

    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_ARCH_BYTES:  # refused unread
                raise InvalidArchitecture(
                    f"--arch {path!r} is {size:,} bytes, over the limit of {MAX_ARCH_BYTES:,} (MAX_ARCH_BYTES)"
                )
            text = f.read(MAX_ARCH_BYTES + 1)  # more (from a pipe) is refused by the schema
    except InvalidArchitecture:
        raise
    except FileNotFoundError:
        raise FileNotFoundError(f"--arch {path!r} not found; write one with `nas sample --out arch.json`") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"--arch {path!r} is a directory; give an architecture JSON file") from None
    except (OSError, ValueError) as e:  # no permission, a name too long, a NUL in the name
        raise ValueError(f"--arch {path!r} cannot be read: {getattr(e, 'strerror', None) or e}") from None
    try:
        return Arch.from_json(text)
    except InvalidArchitecture as e:
        raise InvalidArchitecture(f"--arch {path!r}: {e}") from None


# ---- output checks: fail in a second, not after training -------------------------------------
def check_out_dir(out: str, names: Sequence[str], *, force: bool, replaced: Sequence[str] = ()) -> None:
    """Check that the files `names` can be written into the directory `out` the way
    `nas.final.export.write_files` writes them (a scratch directory next to `out`, then moved in;
    `replaced` are the other files it may replace), by creating and removing probes there.

    Raises:
        FileExistsError: `out` or one of its parents is a file, `out` holds one of `names`
            without `force`, or a directory where one of the files goes.
        PermissionError: `out` cannot be created or written (the reason, without an errno).
        ValueError: an empty name or one with a NUL character.
    """
    if not out or "\0" in out:
        raise ValueError(f"--out {out!r}: give a directory path")
    path = Path(out)
    with _os_errors(out):
        base = _first_existing(path)
        if not base.is_dir():
            raise _Refused(FileExistsError(f"--out {out!r}: {str(base)!r} is a file, not a directory"))
        if path.is_dir():
            present = [n for n in dict.fromkeys([*names, *replaced]) if os.path.lexists(path / n)]
            in_the_way = [n for n in present if (path / n).is_dir()]
            if in_the_way:
                raise _Refused(
                    FileExistsError(f"--out {out!r} holds a directory {in_the_way[0]!r} where a file goes; remove it")
                )
            existing = [n for n in names if n in present]
            if existing and not force:
                raise _Refused(
                    FileExistsError(f"--out {out!r} already holds {existing[0]}; pass --force or another --out")
                )
        _probe_dir(path, base)


def check_out_file(out: str, *, example: str = "arch.json") -> None:
    """Check that the file `out` (`--out FILE`) can be written: its directory exists and takes a
    new file. A probe file is created and removed; an existing `out` is not touched. `example`
    is the file name the messages suggest.

    Raises:
        IsADirectoryError, FileExistsError, FileNotFoundError, PermissionError, ValueError: one line each.
    """
    import tempfile

    if not out or "\0" in out:
        raise ValueError(f"--out {out!r}: give a file name such as {example}")
    path = Path(out)
    with _os_errors(out):
        if path.is_dir():
            raise _Refused(IsADirectoryError(f"--out {out!r} is a directory; give a file name such as {example}"))
        parent = path.absolute().parent
        base = _first_existing(parent)
        if not base.is_dir():
            raise _Refused(FileExistsError(f"--out {out!r}: {str(base)!r} is a file, not a directory"))
        if base != parent:
            raise _Refused(FileNotFoundError(f"--out {out!r}: directory {str(parent)!r} does not exist; create it"))
        if path.exists():  # it will be replaced through a new file beside it
            fd, probe = tempfile.mkstemp(prefix=".nas-probe-", dir=parent)
            os.close(fd)
            os.unlink(probe)
        else:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            os.unlink(path)


class _Refused(Exception):
    """Carries a one-line error of ours through `_os_errors` unchanged."""

    def __init__(self, error: Exception) -> None:
        self.error = error


@contextlib.contextmanager
def _os_errors(out: str) -> Iterator[None]:
    """Turn any OSError into a one-line PermissionError naming --out and the reason (no errno)."""
    try:
        yield
    except _Refused as refused:
        raise refused.error from None
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise PermissionError(f"--out {out!r} cannot be written: {reason}; choose another --out") from None


def _first_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def _probe_dir(path: Path, base: Path) -> None:
    """Create what is missing of `path` below `base`, a file in it and a directory beside it;
    then remove them all."""
    import tempfile

    missing = []
    p = path.absolute()
    while p != base:
        missing.append(p)
        p = p.parent
    created: list[Path] = []
    try:
        for d in reversed(missing):
            d.mkdir()
            created.append(d)
        fd, probe = tempfile.mkstemp(prefix=".nas-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
        os.rmdir(tempfile.mkdtemp(prefix=".nas-probe-", dir=path.absolute().parent))
    finally:
        for d in reversed(created):
            try:
                d.rmdir()
            except OSError:
                pass
