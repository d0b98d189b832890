"""Final evaluation of chosen architectures, and how result commands pick what they act on.

The search selects on a validation split and never sees the test split. `run_evaluation`
retrains the top-k architectures of a search with the final protocol (`nas.final.final_train`:
the whole training split, then one pass over the test split) for several seeds, and records
every run with `Store.add_evaluation`, so the leaderboard shows test accuracy as mean ± std.

Every choice is made on validation accuracy (and the search's other objectives), never on a
test-split number: `nas evaluate --top K` takes the first K by `validation_key`, and
`nas export --best` takes `best_by_validation`, which is the first of those K.
The test accuracy is measured and shown, and chooses nothing.

The selection helpers (`resolve_search`, `find_trial`, `find_arch`) are shared by the
`leaderboard`, `show`, `evaluate`, `export` and `plot` commands: a database with one search
needs no ``--search``; otherwise the error names the searches there are.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from db import NotFoundError
from nas.final.protocol import FinalConfig
from workers.records import TrainConfig

#: Training fields a search may set that the final protocol must not inherit: the final
#: protocol trains on the whole split, to the end, with the seed of the run.
_SEARCH_ONLY_TRAIN_FIELDS = ("train_fraction", "max_seconds", "seed")


# ---- selection -----------------------------------------------------------------------------
def resolve_search(store, name: str | None, *, allow_all: bool = False) -> str:
    """The search `name`, or the database's only search when `name` is None.

    Raises:
        NotFoundError: no search of that name, or none at all (the message lists the names).
        LookupError: several searches and no name (the message lists them).
    """
    names = [s.name for s in store.list_searches()]
    if name is not None:
        if name not in names:
            known = f"searches there: {', '.join(names)}" if names else "it holds no searches yet"
            raise NotFoundError(f"no search named {name!r} in {store.display_url}; {known}")
        return name
    if not names:
        raise NotFoundError(f"{store.display_url} holds no searches yet; run `nas search` first")
    if len(names) == 1:
        return names[0]
    also = " (or --all)" if allow_all else ""
    raise LookupError(
        f"{store.display_url} holds {len(names)} searches ({', '.join(names)}); pick one with --search NAME{also}"
    )


def find_trial(store, number: int, search: str | None):
    """The trial `number` of `search` (or of the only search that has one with that number).

    Raises:
        LookupError: no such trial, or the number exists in several searches and none was named.
    """
    if search is not None:
        resolve_search(store, search)
        t = store.get_trial(search, number)
        if t is None:
            n = store.count_trials(search)
            raise NotFoundError(
                f"search {search!r} has no trial {number} (its trials are 0..{n - 1})"
                if n
                else f"search {search!r} has no trials yet"
            )
        return t
    hits = [t for t in store.trials() if t.optuna_number == number]
    if not hits:
        raise NotFoundError(f"no search in {store.display_url} has a trial {number}")
    if len(hits) > 1:
        names = ", ".join(t.search_name for t in hits)
        raise LookupError(f"trial {number} exists in searches {names}; pick one with --search NAME")
    return hits[0]


def find_arch(store, prefix: str):
    """The architecture whose hash is or starts with `prefix`.

    Raises:
        NotFoundError: none; AmbiguousHashError (a LookupError): several.
    """
    rec = store.get_architecture(prefix.lower())
    if rec is None:
        raise NotFoundError(f"no architecture hash starts with {prefix!r} in {store.display_url}")
    return rec


def find_ref(store, ref: str, search: str | None = None):
    """`ref` is a trial number or a hash (prefix). Returns (ArchitectureRecord, TrialRecord | None).

    A short all-digit `ref` is a trial number first; when no trial has that number it is tried
    as a hash prefix.
    """
    ref = str(ref).strip()
    if ref.isdigit() and len(ref) <= 6:
        try:
            t = find_trial(store, int(ref), search)
        except NotFoundError as e:
            try:
                return find_arch(store, ref), None
            except NotFoundError:
                raise e from None
        if t.arch_hash is None:
            raise NotFoundError(f"trial {ref} of search {t.search_name!r} has no architecture recorded")
        return find_arch(store, t.arch_hash), t
    if search is not None:
        resolve_search(store, search)
    return find_arch(store, ref), None


def trials_of(store, arch_hash: str, search: str | None = None) -> list:
    """Every trial (of `search`, or of all searches) that sampled this architecture."""
    return [t for t in store.trials(search) if t.arch_hash == arch_hash]


def test_cell(mean: float | None, std: float | None, seeds: int) -> str | None:
    """'0.8123±0.0040 (3)' for a table; None when never evaluated."""
    if mean is None:
        return None
    return f"{mean:.4f}±{std:.4f} ({seeds})" if std is not None else f"{mean:.4f} ({seeds})"


# ---- choosing by validation ----------------------------------------------------------------
#: Objectives other than val_accuracy that the final commands know how to compare (minimised).
_COSTS = ("params", "flops")


def search_objectives(store, search: str) -> tuple[str, ...]:
    """The search's objectives as stored (`--objectives`): val_accuracy first, then the costs it
    minimised (params, flops). A search without a usable record counts as ('val_accuracy',)."""
    rec = store.get_search(search)
    objectives = tuple(getattr(rec, "objectives", None) or ())
    if not objectives or objectives[0] not in ("val_accuracy", "val_miou"):  # val_miou: a dense search's score
        return ("val_accuracy",)
    return ("val_accuracy", *(o for o in objectives[1:] if o in _COSTS))


def validation_key(row, objectives: Sequence[str] = ("val_accuracy",)) -> tuple:
    """Sort key of a leaderboard row, best first: higher validation accuracy, then (ties only) the
    search's other objectives in their order, smaller first, then fewer params, then the search
    name and trial number. No test-split number takes part."""
    val = row.val_accuracy
    key: list[Any] = [val is None, -(val or 0.0)]
    for name in objectives[1:]:
        value = getattr(row, name, None)
        key += [value is None, value or 0]
    key += [row.params is None, row.params or 0, row.search, row.trial]
    return tuple(key)


def rank_by_validation(rows: Sequence, objectives: Sequence[str] = ("val_accuracy",)) -> list:
    """Leaderboard rows in the order the final commands choose from (`validation_key`)."""
    return sorted(rows, key=lambda r: validation_key(r, objectives))


def pareto_front(rows: Sequence, objectives: Sequence[str]) -> list:
    """The rows not dominated on the search's objectives: val_accuracy maximised, each other
    objective (params, flops) minimised. Rows missing one of the values are left out."""
    costs = [o for o in objectives[1:] if o in _COSTS]
    usable = [r for r in rows if r.val_accuracy is not None and all(getattr(r, o) is not None for o in costs)]

    def dominates(a, b) -> bool:
        if a.val_accuracy < b.val_accuracy or any(getattr(a, o) > getattr(b, o) for o in costs):
            return False
        return a.val_accuracy > b.val_accuracy or any(getattr(a, o) < getattr(b, o) for o in costs)

    return [r for r in usable if not any(dominates(o, r) for o in usable)]


def best_by_validation(rows: Sequence, objectives: Sequence[str] = ("val_accuracy",)):
    """The row `nas export --best` takes: the best validation accuracy; in a multi-objective
    search, the row on the Pareto front of the search's objectives with the best validation
    accuracy (ties: the other objectives, in order).

    One objective: the first by `validation_key`. Several: the first by `validation_key` among
    the Pareto front of `objectives`; that is always the first by `validation_key` among all
    rows too, so `nas evaluate --top K` evaluates this one first.
    """
    if not rows:
        raise ValueError("no rows to choose from")
    front = pareto_front(rows, objectives) if len(objectives) > 1 else []
    return rank_by_validation(front or rows, objectives)[0]


# ---- the final protocol ---------------------------------------------------------------------
@dataclass(frozen=True)
class FinalSetup:
    """How the final protocol trains architectures of one search."""

    search: str
    dataset: str
    data_dir: str | None
    image_size: int | None
    data_seed: int
    train: TrainConfig
    recordable: bool  # the dataset is the search's, so results may count for its trials


def final_setup(
    store,
    search: str,
    *,
    epochs: int = FinalConfig.epochs,
    dataset: str | None = None,
    data_dir: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
) -> FinalSetup:
    """The final protocol's settings for `search`: its stored dataset and training config, with
    the search-only fields dropped and `epochs` (and any override given) applied."""
    rec = store.get_search(search)
    if rec is None:
        raise NotFoundError(f"no search named {search!r} in {store.display_url}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"--epochs {epochs!r}: must be a positive integer")
    config = rec.config or {}
    fields = {k: v for k, v in (rec.train_config or {}).items() if k not in _SEARCH_ONLY_TRAIN_FIELDS}
    fields["epochs"] = epochs
    for key, value in (("device", device), ("batch_size", batch_size), ("lr", lr)):
        if value is not None:
            fields[key] = value
    try:
        train = TrainConfig.from_dict(fields)
    except ValueError as e:
        raise ValueError(_flag_named(str(e))) from None
    ds = dataset or rec.dataset
    return FinalSetup(
        search=search,
        dataset=ds,
        data_dir=data_dir if data_dir is not None else config.get("data_dir"),
        image_size=config.get("image_size"),
        data_seed=int(config.get("seed") or 0),
        train=train,
        recordable=ds.split(":")[0] == rec.dataset.split(":")[0],
    )


#: The final protocol's TrainConfig fields that `nas evaluate` / `nas export --retrain` take as flags.
_FLAGS = {"epochs": "--epochs", "device": "--device", "batch_size": "--batch-size", "lr": "--lr"}


def _flag_named(message: str) -> str:
    """'TrainConfig.device='tpu' is invalid: ...' -> "--device 'tpu' is invalid: ...": the flag the
    user typed, not the record's field. Other messages are returned as they are."""
    field, sep, rest = message.removeprefix("TrainConfig.").partition("=")
    if message.startswith("TrainConfig.") and sep and field in _FLAGS:
        value, _, why = rest.partition(" ")
        return f"{_FLAGS[field]} {value} {why}"
    return message


def load_final_data(setup: FinalSetup):
    """The dataset for the final protocol (whole training split, no validation hold-out),
    normalised and on the training device once, to be shared by every run."""
    from workers.datasets import load_dataset
    from workers.trainer import resolve_device

    # the search's seed: for generated datasets it fixes the images themselves
    data = load_dataset(
        setup.dataset, data_dir=setup.data_dir, image_size=setup.image_size, val_fraction=0.0, seed=setup.data_seed
    )
    return data.to(resolve_device(setup.train.device))


def weights_meta(result, setup: FinalSetup, data) -> dict[str, Any]:
    """What a 'final_weights' artifact records besides its bytes."""
    return {
        "shape": list(result.input_shape),
        "num_classes": result.num_classes,
        "seed": result.seed,
        "epochs": setup.train.epochs,
        "dataset": setup.dataset,
        "protocol": "final",
        "test_accuracy": result.test_accuracy,
        "mean": list(data.mean),
        "std": list(data.std),
    }


# ---- nas evaluate ---------------------------------------------------------------------------
@dataclass
class Evaluation:
    """The final-protocol runs of one architecture of a search.

    `val_accuracy` is the search's (its validation hold-out) and `val_rank` the architecture's
    place in the search by `validation_key`; `accuracies` are test-split accuracies of the runs
    retrained on the whole training split (`train_images` images), one per seed. `sources`
    says in words which data each number comes from (`data_sources`).
    """

    search: str
    trial: int
    arch_hash: str
    val_accuracy: float | None
    params: int
    val_rank: int | None = None
    selected_by: str = "val_accuracy"  # 'val_accuracy' (--top) or 'hash' (--hash)
    seeds: list[int] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    train_seconds: float = 0.0
    recorded: bool = False
    weights_saved: bool = False
    epochs: int | None = None
    train_images: int | None = None
    test_images: int | None = None
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.accuracies) if self.accuracies else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.accuracies) if len(self.accuracies) > 1 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "search": self.search,
            "trial": self.trial,
            "hash": self.arch_hash,
            "selected_by": self.selected_by,
            "val_rank": self.val_rank,
            "val_accuracy": self.val_accuracy,
            "params": self.params,
            "epochs": self.epochs,
            "train_images": self.train_images,
            "test_images": self.test_images,
            "seeds": self.seeds,
            "test_accuracies": self.accuracies,
            "test_losses": self.losses,
            "test_accuracy": self.mean,
            "test_std": self.std,
            "train_seconds": self.train_seconds,
            "recorded": self.recorded,
            "weights_saved": self.weights_saved,
            "sources": dict(self.sources),
        }


def select_rows(store, search: str, *, top: int | None = None, hashes: Sequence[str] = ()) -> list:
    """Leaderboard rows to evaluate, best first by `validation_key` (the search's objectives):
    the first `top`, or those of `hashes` (in the order given). Never by a test number."""
    rows = ranked_rows(store, search)
    if not rows:
        raise NotFoundError(f"search {search!r} has no completed trials to evaluate")
    if not hashes:
        if isinstance(top, bool) or not isinstance(top, int) or top < 1:
            raise ValueError(f"--top {top!r}: must be a positive integer")
        return rows[:top]
    chosen = []
    for h in hashes:
        arch = find_arch(store, h)
        match = [r for r in rows if r.hash == arch.hash]
        if not match:
            raise NotFoundError(
                f"architecture {arch.hash[:12]} has no completed trial in search {search!r}; "
                "evaluate it from the search that trained it (--search)"
            )
        if match[0] not in chosen:
            chosen.append(match[0])
    return chosen


def ranked_rows(store, search: str) -> list:
    """The search's leaderboard rows ordered by `validation_key` under its objectives."""
    return rank_by_validation(store.leaderboard(search), search_objectives(store, search))


def data_sources(store, setup: FinalSetup, data, *, seeds: Sequence[int], top: int | None) -> dict[str, str]:
    """Which data each number of `nas evaluate` comes from, in words (its JSON 'sources' and
    the notes under its table)."""
    from nas.final.export import dataset_label

    rec = store.get_search(setup.search)
    config = (rec.config if rec is not None else None) or {}
    search_data = dataset_label(rec.dataset if rec is not None else setup.dataset)
    subset = f", on a {config['subset']}-image subset" if config.get("subset") else ""
    holdout = (
        f"{config['val_fraction']:g} of the {search_data} training split (--val-fraction), drawn with seed "
        f"{int(config.get('seed') or 0)}{subset}"
        if config.get("val_fraction") is not None
        else f"a part of the {search_data} training split"
    )
    objectives = search_objectives(store, setup.search)
    from nas.final.scores import search_score

    words = search_score(store, setup.search).words  # accuracy, or mIoU for a dense search
    by = f"validation {words}" + (f" (ties: {', '.join(objectives[1:])})" if len(objectives) > 1 else "")
    label = dataset_label(setup.dataset)
    return {
        "selection": (
            f"the top {top} trials of search {setup.search!r} by {by}"
            if top is not None
            else "the architectures named by --hash"
        )
        + "; the test split chose nothing",
        "val_accuracy": f"the search's own training run of the trial, scored on the search's validation "
        f"hold-out: {holdout}",
        "training": f"the final protocol: the whole {label} training split ({len(data.train)} images, the "
        f"search's training part and validation hold-out together), {setup.train.epochs} epoch(s) per run, "
        f"one run per seed ({', '.join(map(str, seeds))})",
        "test_accuracy": f"the {label} test split ({len(data.test)} images), scored once per run after its "
        "training; mean and sample std over the seeds; shown, never used to choose",
    }


def _read_only(url: str):
    """A read-only Store on `url` for the checks of `run_evaluation`, or None when only an older
    schema stands in the way (the writing connection migrates it, and the checks run on that).

    Raises:
        DatabaseError: no database there, not a nas database (never given ``nas_`` tables
            here), truncated, unreachable, a newer schema.
    """
    import db

    try:
        return db.connect(url, read_only=True)
    except db.DatabaseError as e:
        # needs_writer: missing, no nas_ tables, or an older schema; only the last is ours to fix
        if e.needs_writer and "older than this nas" in str(e):
            return None
        raise


def run_evaluation(
    store,
    search: str | None = None,
    *,
    top: int | None = FinalConfig.top,
    hashes: Sequence[str] = (),
    seeds: Sequence[int] = tuple(range(FinalConfig.seeds)),
    epochs: int = FinalConfig.epochs,
    dataset: str | None = None,
    data_dir: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    save_weights: bool = True,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[Evaluation]:
    """Retrain the chosen architectures of a search with the final protocol, once per seed.

    Args:
        store: a database URL, or a `db.Store`. Given a URL, everything that can be refused (the
            search, the selection, the options, the dataset) is checked through a read-only
            connection first, and the database is opened for writing only to record the first
            run: a refused evaluation leaves the file byte-identical, with no -wal or -shm
            beside it (`nas evaluate` passes its --db).
        top / hashes: the `top` by validation accuracy (`validation_key`: ties by the search's
            other objectives), or the architectures of these hashes (prefixes allowed). The
            test split never takes part in the choice.
        seeds: one run per seed; each is recorded with `Store.add_evaluation` (when the
            dataset is the search's), so the leaderboard shows the test mean ± std.
        save_weights: store the first seed's weights as artifact 'final_weights' on the
            search's trial (what `nas export` then prefers).
        log: called with one line per finished run (default: print to stderr).
    Returns:
        One `Evaluation` per architecture, best by validation first (or in --hash order).
    Raises:
        LookupError, ValueError, DatasetError: bad selection, options or dataset.
    """
    import db
    from nas.final.protocol import final_train
    from nas.final.scores import search_score
    from nas.ir import Arch
    from workers.runner import state_dict_bytes

    url = store if isinstance(store, str) else None
    reader = store if url is None else _read_only(url)  # None: an older schema, migrated by the writer
    if reader is None:
        reader = store = db.connect(url, create=False)
    if log is None:

        def log(line: str) -> None:
            print(line, file=sys.stderr, flush=True)

    try:
        seeds = list(seeds)
        if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
            raise ValueError(f"seeds must be non-negative integers, got {seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, got {seeds!r}")
        search = resolve_search(reader, search)
        setup = final_setup(
            reader,
            search,
            epochs=epochs,
            dataset=dataset,
            data_dir=data_dir,
            device=device,
            batch_size=batch_size,
            lr=lr,
        )
        rows = select_rows(reader, search, top=top, hashes=hashes)
        data = load_final_data(setup)  # a bad dataset is refused here, before any write
        if not setup.recordable:
            log(
                f"note: dataset {setup.dataset!r} is not the search's ({reader.get_search(search).dataset!r}); "
                "results are printed but not recorded"
            )
        sources = data_sources(reader, setup, data, seeds=seeds, top=None if hashes else top)
        score = search_score(reader, search)  # accuracy, or mIoU for a dense search (in the same fields)
        rank = {(r.search, r.trial): i for i, r in enumerate(ranked_rows(reader, search), start=1)}
    finally:
        if reader is not store:
            reader.close()
    if url is not None and store is url:
        store = db.connect(url, create=False)  # every check passed: the first write comes next
    out = []
    for row in rows:
        arch = Arch.from_json(row.canonical_json)
        ev = Evaluation(
            search,
            row.trial,
            row.hash,
            row.val_accuracy,
            row.params,
            val_rank=rank.get((row.search, row.trial)),
            selected_by="hash" if hashes else "val_accuracy",
            epochs=setup.train.epochs,
            train_images=len(data.train),
            test_images=len(data.test),
            sources=sources,
        )
        trial = store.get_trial(search, row.trial)
        for k, seed in enumerate(seeds):
            t0 = time.perf_counter()
            res = final_train(arch, dataset=setup.dataset, train=setup.train, seed=seed, data=data, progress=progress)
            ev.seeds.append(seed)
            ev.accuracies.append(res.test_accuracy)
            ev.losses.append(res.test_loss)
            ev.train_seconds += res.train.get("train_seconds") or (time.perf_counter() - t0)
            if setup.recordable:
                store.add_evaluation(
                    row.hash,
                    search,
                    seed,
                    res.test_accuracy,
                    res.test_loss,
                    setup.train.epochs,
                    {**setup.train.to_dict(), "dataset": setup.dataset, "protocol": "final"},
                )
                ev.recorded = True
            if save_weights and k == 0 and setup.recordable and trial is not None:
                store.add_artifact(
                    trial.id, "final_weights", state_dict_bytes(res.model), meta=weights_meta(res, setup, data)
                )
                ev.weights_saved = True
            log(
                f"trial {row.trial} ({row.hash[:8]}) seed {seed}: test {score.words} {res.test_accuracy:.4f} "
                f"({time.perf_counter() - t0:.1f}s)"
            )
        out.append(ev)
    return out
