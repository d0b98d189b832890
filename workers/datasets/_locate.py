"""Finding a dataset's files on disk, and downloading them into the user cache.

Search order: the `data_dir` argument, `$NAS_DATA_DIR` (each may hold the files directly or a
`<name>/` folder), the system folders (`/usr/share/datasets/<name>`, where Debian's
`dataset-fashion-mnist` installs), the user cache (`~/.cache/nas/datasets/<name>`), then a
download into that cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._errors import DatasetError, DatasetNotFound

ENV_VAR = "NAS_DATA_DIR"
SYSTEM_ROOTS: tuple[Path, ...] = (Path("/usr/share/datasets"),)
DOWNLOAD_TIMEOUT_S = 10.0  # per socket operation: a blocked network fails fast, never hangs

log = logging.getLogger(__name__)


class DownloadFailed(Exception):
    """A download did not complete; the message says why (one line)."""


@dataclass(frozen=True)
class Source:
    """Where a file-based dataset's files may live and how to fetch them.

    files: names that must all be in one folder (`X.gz` is also found uncompressed as `X`).
    subdirs: folder names besides `name` to try under a parent (e.g. `cifar-10-batches-py`).
    fetch: downloads the files into the folder it is given (the cache), or raises
      `DownloadFailed`.
    hint: how to get the data, the first part of the fix in the not-found message.
    """

    name: str
    files: tuple[str, ...]
    subdirs: tuple[str, ...] = ()
    fetch: Callable[[Path], None] | None = None
    hint: str = ""


def cache_root() -> Path:
    """`$XDG_CACHE_HOME/nas/datasets`, by default `~/.cache/nas/datasets`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nas" / "datasets"


def file_in(folder: Path, fname: str) -> Path | None:
    """`folder/fname`, or its uncompressed variant for a `.gz` name, if either is a file."""
    for cand in (fname, fname[:-3] if fname.endswith(".gz") else None):
        if cand and (folder / cand).is_file():
            return folder / cand
    return None


def locate(src: Source, *, data_dir: str | os.PathLike | None, download: bool) -> Path:
    """The first folder holding all of `src.files`, downloading into the cache if allowed.

    Raises:
        DatasetNotFound: nowhere, with a one-line message listing every place and the fix.
    """
    looked: list[str] = []
    env = os.environ.get(ENV_VAR) or None
    places: list[tuple[str, Path | None, bool]] = [
        ("data_dir", Path(data_dir).expanduser() if data_dir else None, True),
        (f"${ENV_VAR}", Path(env).expanduser() if env else None, True),
        *((str(root), root, False) for root in SYSTEM_ROOTS),
        ("cache", cache_root(), False),
    ]
    for label, base, direct in places:
        if base is None:
            looked.append(f"{label} (not set)")
            continue
        found = _search(src, base, direct, looked)
        if found is not None:
            return found
    if not download:
        note = "no download (download=False)"
    elif src.fetch is None:
        note = "no download source known"
    else:
        dest = cache_root() / src.name
        try:
            src.fetch(dest)
        except (DownloadFailed, OSError) as e:
            note = f"download into {dest} failed ({_one_line(e)})"
        else:
            found = _search(src, cache_root(), False, [])
            if found is not None:
                return found
            note = f"download into {dest} left it incomplete"
    files = ", ".join(src.files)
    raise DatasetNotFound(
        f"dataset {src.name!r} not found: looked in {'; '.join(looked)}; {note}. "
        f"Fix: {src.hint}put {files} in a folder DIR and pass --data-dir DIR "
        f"(data_dir=DIR) or set {ENV_VAR}=DIR"
    )


def _search(src: Source, base: Path, direct: bool, looked: list[str]) -> Path | None:
    """Try `base` itself (if `direct`) and `base/<name>`, `base/<subdir>`; note what was seen."""
    cands = ([base] if direct else []) + [base / d for d in (src.name, *src.subdirs)]
    notes = []
    for folder in cands:
        missing = [f for f in src.files if file_in(folder, f) is None]
        if not missing:
            return folder
        if folder.is_dir() and len(missing) < len(src.files):
            notes.append(f"{folder} (missing {', '.join(missing)})")
        else:
            notes.append(str(folder))
    looked.append(", ".join(notes))
    return None


def fetch_files(dest: Path, items: Sequence[tuple[str, Sequence[str], str | None]]) -> None:
    """Download each `(filename, mirror urls, md5 or None)` into `dest`, skipping present ones."""
    dest.mkdir(parents=True, exist_ok=True)
    for fname, urls, md5 in items:
        if (dest / fname).is_file():
            continue
        errors = []
        for url in urls:
            try:
                download(url, dest / fname, md5)
                break
            except DownloadFailed as e:
                errors.append(f"{url}: {e}")
        else:
            raise DownloadFailed("; ".join(errors))


def download(url: str, dest: Path, md5: str | None = None) -> None:
    """Stream `url` to `dest` (atomically, via a per-process `.part` file), checking `md5`.

    Several workers on one machine may download at once: each writes its own part file and
    the last rename wins with identical content.
    """
    part = dest.with_name(f"{dest.name}.{os.getpid()}.part")
    log.info("downloading %s -> %s", url, dest)
    digest = hashlib.md5()
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "nas-datasets/0.1"})
        with urllib.request.urlopen(req, timeout=DOWNLOAD_TIMEOUT_S) as resp, open(part, "wb") as f:
            while chunk := resp.read(1 << 20):
                f.write(chunk)
                digest.update(chunk)
        if md5 and digest.hexdigest() != md5:
            raise DownloadFailed(f"checksum mismatch (md5 {digest.hexdigest()}, expected {md5})")
        os.replace(part, dest)
    except DownloadFailed:
        part.unlink(missing_ok=True)
        raise
    except (OSError, ValueError) as e:  # URLError, timeouts and HTTP errors are OSErrors
        part.unlink(missing_ok=True)
        raise DownloadFailed(_one_line(e)) from e


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def read_bytes(path: Path) -> bytes:
    """The bytes of `path`, as a `DatasetError` naming it when unreadable."""
    try:
        return path.read_bytes()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({_one_line(e)}); check the file's permissions") from e
