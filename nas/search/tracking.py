"""Experiment tracking, as options of a search: `--tensorboard DIR` and `--mlflow URI`.

The driver is the only process that sees every trial's epochs (they stream back from the
workers), so it alone feeds the trackers, through four calls of `Tracker`:

- `trial_started(number, arch_hash=, arch_json=, params=, flops=)` when a trial is dispatched to
  training (not for duplicates or infeasible samples: nothing trains);
- `epoch(number, metrics)` for each of its `EpochMetrics`;
- `trial_finished(number, state, fields)` once its final state is recorded;
- `close()` when the run of the search ends.

`open_trackers(config, draw=...)` gives the trackers the config asks for (an empty `Trackers`
when none). `draw` (an `ArchDrawer`) draws an architecture as DOT text and an image; this
package may not import `nas.viz`, so the command line passes `nas.viz.draw.tracker_drawing`.
A missing package is a `ConfigError` before anything is written; a tracker that fails later is
switched off with one warning on stderr, and the search goes on (its database is the record).

TensorBoard (torch.utils.tensorboard): one run per trial, ``DIR/<search>/trial-00007``, with the
scalars ``loss/train``, ``loss/val``, ``accuracy/train``, ``accuracy/val``, ``lr`` and
``epoch_seconds`` at step = epoch, and the architecture as text (hash, cost, node table, JSON);
given a drawer, also as Graphviz DOT (the text ``arch_dot``, and ``arch.dot`` in the run's
folder) and as the image ``arch``.

MLflow (the MlflowClient API, so trials in flight at once each keep their own run): experiment =
the search's name, one run per trial named ``trial-7``, the training settings and the
architecture's hash and cost as params, the same metrics per epoch, ``arch.json`` as an artifact,
the final state as a tag and the run's status.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from nas.search.config import ConfigError

if TYPE_CHECKING:
    from nas.search.config import SearchConfig
    from workers.records import EpochMetrics

#: EpochMetrics field -> scalar/metric name.
EPOCH_SCALARS = {
    "train_loss": "loss/train",
    "val_loss": "loss/val",
    "train_accuracy": "accuracy/train",
    "val_accuracy": "accuracy/val",
    "lr": "lr",
    "seconds": "epoch_seconds",
}
#: Draws an architecture for the trackers: (arch JSON, title) -> (Graphviz DOT text, the drawing as
#: an RGB image, a uint8 array of shape (height, width, 3), or None). `nas.viz.draw.tracker_drawing`
#: is one; the command line passes it in (`open_trackers(config, draw=...)`).
ArchDrawer = Callable[[str, str], tuple[str, Any]]
#: Final state of a trial -> MLflow run status.
MLFLOW_STATUS = {"complete": "FINISHED", "pruned": "KILLED", "interrupted": "KILLED", "failed": "FAILED"}


class Tracker:
    """Receives a search's trials as the driver records them. Every hook does nothing here."""

    name = "tracker"

    def trial_started(self, number: int, *, arch_hash: str, arch_json: str, params: int, flops: int) -> None:
        """Trial `number` was dispatched to train this architecture."""

    def epoch(self, number: int, metrics: EpochMetrics) -> None:
        """Trial `number` finished an epoch (`metrics.epoch` counts from 1)."""

    def trial_finished(self, number: int, state: str, fields: Mapping[str, Any]) -> None:
        """Trial `number` was recorded in `state` with the `nas_trials` fields `fields`."""

    def close(self) -> None:
        """The run of the search is over."""


class Trackers(Tracker):
    """Several trackers as one. A tracker that raises is dropped with one warning on stderr:
    tracking is a copy of what the database records, and never stops the search."""

    name = "trackers"

    def __init__(self, trackers: list[Tracker] | None = None) -> None:
        self.trackers = list(trackers or [])

    def __bool__(self) -> bool:
        return bool(self.trackers)

    def _each(self, hook: str, *args: Any, **kwargs: Any) -> None:
        for tracker in list(self.trackers):
            try:
                getattr(tracker, hook)(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - reported and switched off, see the class docstring
                self.trackers.remove(tracker)
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                print(f"nas: warning: {tracker.name} tracking stopped: {first}", file=sys.stderr)
                if hook != "close":
                    _quietly(tracker.close)

    def trial_started(self, number: int, **kwargs: Any) -> None:
        self._each("trial_started", number, **kwargs)

    def epoch(self, number: int, metrics: EpochMetrics) -> None:
        self._each("epoch", number, metrics)

    def trial_finished(self, number: int, state: str, fields: Mapping[str, Any]) -> None:
        self._each("trial_finished", number, state, fields)

    def close(self) -> None:
        self._each("close")


def open_trackers(config: SearchConfig, *, draw: ArchDrawer | None = None) -> Trackers:
    """The trackers `config.tensorboard` and `config.mlflow` ask for; `draw` adds the
    architecture's DOT text and image to TensorBoard (without it: the text only).

    Raises:
        ConfigError: the package a tracker needs is not installed, or MLflow refuses the URI.
    """
    trackers: list[Tracker] = []
    tensorboard = getattr(config, "tensorboard", None)
    mlflow = getattr(config, "mlflow", None)
    if tensorboard:
        trackers.append(TensorBoardTracker(tensorboard, config, draw=draw))
    if mlflow:
        trackers.append(MlflowTracker(mlflow, config))
    return Trackers(trackers)


def _require(module: str, flag: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"{flag} needs the {module} package: pip install 'nas[{extra}]'")


def _quietly(fn: Any) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - closing what already failed
        pass


def arch_markdown(arch_hash: str, arch_json: str, params: int, flops: int) -> str:
    """The architecture as Markdown: identity, cost, one row per node, and the JSON."""
    from nas.ir import Arch

    arch = Arch.from_json(arch_json)
    rows = ["| node | op | merge | stage | width | inputs |", "|---|---|---|---|---|---|"]
    for i in arch.topological_order():
        n = arch.nodes[i]
        merge = n.merge if len(n.inputs) > 1 else "-"
        inputs = ", ".join(map(str, n.inputs)) or "-"
        rows.append(f"| {i} | {n.op} | {merge} | {n.stage} | {n.width} | {inputs} |")
    pretty = json.dumps(json.loads(arch_json), indent=1)
    return (
        f"**{arch_hash}**: {params:,} params, {flops:,} multiply-accumulates per image\n\n"
        + "\n".join(rows)
        + f"\n\n```json\n{pretty}\n```\n"
    )


class TensorBoardTracker(Tracker):
    """One SummaryWriter (one TensorBoard run) per trial under `DIR/<search>/`."""

    name = "TensorBoard"

    def __init__(self, directory: str, config: SearchConfig, *, draw: ArchDrawer | None = None) -> None:
        _require("tensorboard", "--tensorboard", "tensorboard")
        self.root = os.path.join(os.path.expanduser(directory), str(config.name))
        self._writers: dict[int, Any] = {}
        self._draw = draw

    def _writer(self, number: int) -> Any:
        if number not in self._writers:
            from torch.utils.tensorboard import SummaryWriter

            self._writers[number] = SummaryWriter(os.path.join(self.root, f"trial-{number:05d}"))
        return self._writers[number]

    def trial_started(self, number: int, *, arch_hash: str, arch_json: str, params: int, flops: int) -> None:
        w = self._writer(number)
        w.add_text("arch", arch_markdown(arch_hash, arch_json, params, flops), 0)
        if self._draw is not None:
            self._add_drawing(w, number, arch_json, f"trial {number}  ·  {arch_hash[:12]}  ·  {params:,} params")
        w.flush()

    def _add_drawing(self, w: Any, number: int, arch_json: str, title: str) -> None:
        """The DOT text (as text, and as arch.dot beside the run's events) and the image. A
        drawing that fails is dropped with one warning, and the scalars and text go on."""
        try:
            dot, image = self._draw(arch_json, title)  # type: ignore[misc]
        except Exception as e:  # noqa: BLE001 - reported once, drawing switched off
            self._draw = None
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            print(f"nas: warning: TensorBoard architecture drawings stopped: {first}", file=sys.stderr)
            return
        w.add_text("arch_dot", f"```dot\n{dot}```", 0)
        with open(os.path.join(w.get_logdir(), "arch.dot"), "w") as f:
            f.write(dot)
        if image is not None:
            w.add_image("arch", image, 0, dataformats="HWC")

    def epoch(self, number: int, metrics: EpochMetrics) -> None:
        w = self._writer(number)
        for field, tag in EPOCH_SCALARS.items():
            value = getattr(metrics, field)
            if value is not None:
                w.add_scalar(tag, float(value), metrics.epoch)
        w.flush()

    def trial_finished(self, number: int, state: str, fields: Mapping[str, Any]) -> None:
        w = self._writers.pop(number, None)
        if w is None:
            return  # never trained (duplicate, infeasible)
        shown = {k: v for k, v in fields.items() if v is not None and k != "error"}
        text = f"**{state}**" + (f": {fields['error']}" if fields.get("error") else "")
        text += "\n\n" + "\n".join(f"- {k}: {v}" for k, v in shown.items())
        w.add_text("outcome", text, 0)
        w.close()

    def close(self) -> None:
        for w in self._writers.values():
            w.close()
        self._writers.clear()


class MlflowTracker(Tracker):
    """One MLflow run per trained trial, in the experiment named after the search."""

    name = "MLflow"

    def __init__(self, uri: str, config: SearchConfig) -> None:
        _require("mlflow", "--mlflow", "mlflow")
        import logging

        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        logging.getLogger("mlflow").setLevel(logging.WARNING)  # quiet: no table-creation chatter
        self._runs: dict[int, str] = {}
        self._search = str(config.name)
        train = config.train.to_dict()
        self._params = {
            "search": self._search,
            "dataset": config.dataset,
            "subset": config.subset,
            "space": config.space,
            **{f"train.{k}": v for k, v in train.items()},
        }
        try:
            self.client = MlflowClient(tracking_uri=uri)
            found = self.client.get_experiment_by_name(self._search)
            if found is not None:
                self.experiment_id = found.experiment_id
            else:
                self.experiment_id = self.client.create_experiment(self._search, artifact_location=_artifacts_for(uri))
        except MlflowException as e:
            first = str(e).strip().split(". ")[0]
            raise ConfigError(f"--mlflow {uri!r}: {first}; use e.g. sqlite:///mlflow.db or http://HOST:5000") from None

    def trial_started(self, number: int, *, arch_hash: str, arch_json: str, params: int, flops: int) -> None:
        from mlflow.entities import Param

        run = self.client.create_run(
            self.experiment_id,
            run_name=f"trial-{number}",
            tags={"nas.search": self._search, "nas.trial": str(number), "nas.arch_hash": arch_hash},
        )
        run_id = run.info.run_id
        self._runs[number] = run_id
        values = {**self._params, "trial": number, "arch_hash": arch_hash, "params": params, "flops": flops}
        self.client.log_batch(run_id, params=[Param(k, "None" if v is None else str(v)) for k, v in values.items()])
        self.client.log_text(run_id, arch_json, "arch.json")

    def epoch(self, number: int, metrics: EpochMetrics) -> None:
        from mlflow.entities import Metric

        run_id = self._runs.get(number)
        if run_id is None:
            return
        now = int(time.time() * 1000)
        batch = [
            Metric(tag.replace("/", "_"), float(getattr(metrics, field)), now, metrics.epoch)
            for field, tag in EPOCH_SCALARS.items()
            if getattr(metrics, field) is not None
        ]
        self.client.log_batch(run_id, metrics=batch)

    def trial_finished(self, number: int, state: str, fields: Mapping[str, Any]) -> None:
        run_id = self._runs.pop(number, None)
        if run_id is None:
            return
        self.client.set_tag(run_id, "nas.state", state)
        if fields.get("error"):
            self.client.set_tag(run_id, "nas.reason", str(fields["error"])[:5000])
        for key in ("val_accuracy", "best_val_accuracy", "epochs_run", "train_seconds", "images_per_second"):
            if fields.get(key) is not None:
                self.client.log_metric(run_id, key, float(fields[key]))
        self.client.set_terminated(run_id, MLFLOW_STATUS.get(state, "FINISHED"))

    def close(self) -> None:
        for run_id in self._runs.values():  # still open: the search stopped without recording them
            _quietly(lambda r=run_id: self.client.set_terminated(r, "KILLED"))
        self._runs.clear()


def _artifacts_for(uri: str) -> str | None:
    """Where a local SQLite tracking store keeps artifacts: `mlartifacts/` beside the database
    (MLflow's own default is ./mlruns in the current directory). None: the server decides."""
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///") :]
        if path and path != ":memory:":
            return "file://" + os.path.join(os.path.dirname(os.path.abspath(path)), "mlartifacts")
    return None
