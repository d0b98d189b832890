"""The GPU suite (issue 13, part 4): the product's CUDA path measured in one run, one JSON file.

In one process, in this order, each part through the product's own code paths:

1. **steps**: eager against CUDA-graphed training steps, images/s, for three torchvision presets
   in the IR (`search_spaces.presets`, the small stem) on Fashion-MNIST 1x28x28:
   `workers.trainer.train` with `TrainConfig(cuda_graphs=False)` and `TrainConfig(cuda_graphs=True)`
   (both bf16 autocast and channels_last: the trainer's CUDA path). The first epoch of each run
   (cuDNN autotuning, allocator warm-up) is not counted; graph capture happens before the first
   epoch and is never counted. `graphed.cuda_graphs` says whether capture really succeeded (the
   trainer falls back to eager and logs why: `capture_error`).
2. **packing**: 1, 2 and 4 trials at once on the one GPU, as trials/minute. The product packs
   trials through Ray's fractional GPUs (`nas search --gpus-per-trial 0.5|0.25`; there is no other
   packing), so each level is the same search (same seed, random sampler, no pruner: the same
   architectures, checked) run by `nas.search.driver.run_search` on a `RayExecutor` of k workers with
   1/k GPU each. Ray starts once for all levels and each level's workers are up (dataset resident
   on the GPU) before its clock starts; trials/minute counts from the first trial's start to the
   last trial's end as the database recorded them.
3. **reference**: `bench/reference_accuracy.py`, the hand-written ResNet-18 (widths 64-512, blocks
   2,2,2,2), trained with the final protocol (whole training split, 30 epochs, then the test split
   once), as a subprocess.
4. **search**: `nas search` on Fashion-MNIST with a 5-minute `--time-budget` (`--gpus-per-trial
   0.25`), as a subprocess, and its trials/minute.
5. **final**: `nas evaluate --top 1 --seeds 1 --epochs 30` on that search: its best architecture by
   validation accuracy, retrained with the final protocol with the same batch size and learning
   rate as the reference, and its test accuracy next to the reference's.

The JSON holds the device name, torch version, date, every command (subprocesses as run; the
in-process parts as the equivalent `nas` command and the Python call), the figures, and the ratios
(graphed/eager per preset, packed k / 1, final against reference) computed in this run. It is
rewritten after every part, with `"complete": false` until the end, so a run cut short still
leaves what it measured. `--deadline` (seconds of this process's wall time) keeps the whole run
inside the GPU machine's 10-minute command limit: the search's budget is shortened to leave room
for the final (the JSON says so), subprocesses get what is left as their timeout, and a part that
no longer fits is skipped with the reason.

On a CUDA machine with nas's dependencies installed and Fashion-MNIST where nas finds it (its
standard places, or downloaded on first use), from the repository root:

    PYTHONPATH=$PWD bash bench/gpu_suite.sh --out gpu_suite.json

CI-sized on the CPU (`--smoke`: the synthetic dataset, tiny networks and budgets, the CPU device;
tests/bench/test_gpu_suite_cpu.py runs it). Every code path runs; what needs CUDA (graph capture,
bf16 and channels_last, fractional GPUs) is listed under "skipped" with the reason:

    PYTHONPATH=$PWD python bench/gpu_suite.py --smoke --out /tmp/gpu_suite.json
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCHEMA = 1
PARTS = ("steps", "packing", "reference", "search", "final")
PRESETS = ("resnet18", "mobilenet_v2", "shufflenet_v2_x1_0")
#: skipdag options of the CI-sized run: two stages of one slot, widths 4 to 12 (about 1-5k parameters)
SMOKE_SPACE = {"widths": [[4, 8], [8, 12]], "depth": [1, 1], "stem_widths": [4, 8], "expansions": [1]}


@dataclass(frozen=True)
class Plan:
    """Sizes of one run of the suite. `FULL` is the GPU run; `SMOKE` the CI-sized CPU run."""

    dataset: str = "fashion-mnist"
    device: str = "cuda"
    # steps: eager against graphed
    presets: tuple[str, ...] = PRESETS
    steps_image_size: int | None = None  # None: the dataset's own (28x28)
    steps_subset: int = 4096
    steps_epochs: int = 5  # the first is not counted
    steps_batch: int = 256
    # packing: 1, 2, 4 trials at once
    pack_levels: tuple[int, ...] = (1, 2, 4)
    pack_trials: int = 8
    pack_subset: int = 5000
    pack_epochs: int = 2
    pack_batch: int = 256
    # search, final and reference
    space_options: dict[str, Any] = field(default_factory=dict)
    search_budget: float = 300.0
    search_min_budget: float = 60.0  # below this (after the deadline's cut) the search is skipped
    search_epochs: int = 3
    search_batch: int = 256
    search_gpus_per_trial: float = 0.25
    search_executor: str = "ray"
    final_epochs: int = 30
    final_batch: int = 512  # both runs: bench/reference_accuracy.py's defaults, given to `nas evaluate` too
    final_lr: float = 0.2
    final_reserve: float = 90.0  # seconds kept for the final when the reference's time is unknown
    reference_widths: str = "64,128,256,512"  # ResNet-18
    reference_blocks: str = "2,2,2,2"
    deadline: float | None = 560.0  # seconds of this process; the GPU machine allows 600 per command
    #: torch's CPU threads here and in the subprocesses (None: leave them); 1 for the CI-sized run, where
    #: two threads on a loaded 2-core machine run ten times slower than one
    threads: int | None = None


FULL = Plan()
SMOKE = Plan(
    dataset="synthetic",
    device="cpu",
    steps_image_size=8,
    steps_subset=16,
    steps_epochs=2,
    steps_batch=8,
    pack_trials=4,
    pack_subset=200,
    pack_epochs=1,
    pack_batch=16,
    space_options=SMOKE_SPACE,
    search_budget=2.0,
    search_min_budget=1.0,
    search_epochs=1,
    search_batch=64,
    search_gpus_per_trial=0.0,
    search_executor="local",
    final_epochs=1,
    final_batch=64,
    final_lr=0.2,
    final_reserve=30.0,
    reference_widths="4,8",
    reference_blocks="1,1",
    deadline=None,
    threads=1,
)


# ---- the record ---------------------------------------------------------------------------------
class Suite:
    """The run's JSON record, rewritten to `out` after every part."""

    def __init__(self, out: Path, plan: Plan, smoke: bool, argv: list[str]) -> None:
        self.out = out
        self.plan = plan
        self.smoke = smoke
        self.t0 = time.monotonic()
        self.doc: dict[str, Any] = {
            "suite": "bench/gpu_suite.py",
            "schema": SCHEMA,
            "mode": "smoke" if smoke else "full",
            "complete": False,
            "date": dt.date.today().isoformat(),
            "started": _now(),
            "finished": None,
            "wall_seconds": None,
            "command": shlex.join([sys.executable, *argv]),
            "plan": dataclasses.asdict(plan),
            "environment": {},
            "commands": [],
            "skipped": [],
            "parts": {},
            "ratios": {},
        }

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None: no deadline)."""
        if self.plan.deadline is None:
            return None
        return self.plan.deadline - self.elapsed()

    def command(self, part: str, cmd: str, how: str) -> None:
        """Note a command: `how` is 'subprocess' (run as given) or 'in-process' (the equivalent)."""
        self.doc["commands"].append({"part": part, "how": how, "command": cmd})

    def skip(self, part: str, what: str, why: str) -> None:
        self.doc["skipped"].append({"part": part, "what": what, "why": why})

    def write(self) -> None:
        self.doc["wall_seconds"] = round(self.elapsed(), 3)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_name(self.out.name + ".tmp")
        tmp.write_text(json.dumps(self.doc, indent=2, default=_jsonable) + "\n")
        os.replace(tmp, self.out)

    def run_part(self, name: str, fn, *args) -> dict[str, Any]:
        """Run one part; a failure is recorded (status 'failed', the error) and the run goes on."""
        rec: dict[str, Any] = {"status": "running"}
        self.doc["parts"][name] = rec
        t = time.monotonic()
        try:
            rec.update(fn(self, *args))
            if rec["status"] == "running":
                rec["status"] = "ok"
        except Exception as e:  # noqa: BLE001 - one part's failure must not lose the others
            rec["status"] = "failed"
            rec["error"] = f"{type(e).__name__}: {e}"
            rec["traceback"] = traceback.format_exc(limit=-6)
            print(f"gpu_suite: part {name} failed: {rec['error']}", file=sys.stderr)
        rec["part_seconds"] = round(time.monotonic() - t, 3)
        print(f"gpu_suite: {name}: {rec['status']} in {rec['part_seconds']:.1f}s", file=sys.stderr)
        self.write()
        return rec


# ---- environment --------------------------------------------------------------------------------
def environment(device) -> dict[str, Any]:
    import torch

    env: dict[str, Any] = {
        "device_type": device.type,
        "device": _device_name(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "host": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None,
        "versions": _versions("ray", "optuna", "numpy", "sqlalchemy"),
    }
    status = _git("status", "--porcelain", "--untracked-files=no")
    env["git_dirty"] = None if status is None else bool(status)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        env["gpu_count"] = torch.cuda.device_count()
        env["bf16_supported"] = torch.cuda.is_bf16_supported()
        env["driver"] = _nvidia_smi_driver()
    return env


def _device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return "cpu: " + line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "cpu: " + (platform.processor() or platform.machine())


def _git(*args: str) -> str | None:
    try:
        r = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def _nvidia_smi_driver() -> str | None:
    try:
        r = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip().splitlines()[0] if r.returncode == 0 and r.stdout.strip() else None


def _versions(*names: str) -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for n in names:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = None
    return out


# ---- 1. steps: eager against CUDA-graphed ---------------------------------------------------------
class _CaptureLog(logging.Handler):
    """Collects what `workers._step` logs (a failed capture says why there)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def part_steps(suite: Suite, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from nas.ir import build, cost
    from search_spaces.presets import preset
    from workers._resident import resident
    from workers.datasets import load_dataset
    from workers.trainer import TrainConfig, resolve_device, train

    plan = suite.plan
    device = resolve_device(plan.device)
    on_cuda = device.type == "cuda"
    if not on_cuda:
        suite.skip(
            "steps",
            "CUDA graphs, bf16 autocast and channels_last",
            f"no CUDA device (device {str(device)!r}): the trainer captures graphs, casts to bf16 and uses "
            "channels_last only on CUDA (workers/_step.py), so 'graphed' ran the same eager fp32 step as 'eager'; "
            "its ratio is no CUDA-graph speed-up",
        )
    data = load_dataset(
        plan.dataset,
        data_dir=args.data_dir,
        image_size=plan.steps_image_size,
        val_fraction=0.0,  # no validation: an epoch's seconds are its training steps only
        seed=0,
        subset=plan.steps_subset,
    )
    data = resident(data, device)  # train on the device once, shared by every run
    epochs = max(2, plan.steps_epochs)
    call = (
        "workers.trainer.train(build(preset(NAME, input_shape, stem='small')), data, "
        f"TrainConfig(epochs={epochs}, batch_size={plan.steps_batch}, device={str(device)!r}, "
        "cuda_graphs=False|True))"
    )
    suite.command("steps", call, "in-process")
    step_log = logging.getLogger("workers._step")
    presets: dict[str, Any] = {}
    ratios: dict[str, float | None] = {}
    for name in plan.presets:
        arch = preset(name, data.input_shape, stem="small")
        k = cost(arch, data.input_shape, data.num_classes)
        entry: dict[str, Any] = {"params": k.params, "macs_per_image": k.flops, "stem": "small"}
        for mode in ("eager", "graphed"):
            handler = _CaptureLog()
            step_log.addHandler(handler)
            try:
                torch.manual_seed(0)
                model = build(arch, data.input_shape, data.num_classes)
                cfg = TrainConfig(
                    epochs=epochs,
                    batch_size=plan.steps_batch,
                    device=str(device),
                    cuda_graphs=mode == "graphed",
                    seed=0,
                )
                result = train(model, data, cfg)
            finally:
                step_log.removeHandler(handler)
            entry[mode] = _step_figures(result, epochs, on_cuda, cfg, handler.messages)
            del model
            if on_cuda:
                torch.cuda.empty_cache()
        e, g = entry["eager"]["images_per_second"], entry["graphed"]["images_per_second"]
        entry["ratio_graphed_over_eager"] = _ratio(g, e)
        ratios[name] = entry["ratio_graphed_over_eager"]
        presets[name] = entry
    suite.doc["ratios"]["graphed_over_eager"] = ratios
    return {
        "dataset": plan.dataset,
        "input_shape": list(data.input_shape),
        "train_images": len(data.train),
        "batch_size": plan.steps_batch,
        "epochs": epochs,
        "epochs_counted": epochs - 1,
        "device": str(device),
        "cuda_graphs_possible": on_cuda,
        "presets": presets,
    }


def _step_figures(result, epochs: int, on_cuda: bool, cfg, messages: list[str]) -> dict[str, Any]:
    """images/s of the epochs after the first, from the run's per-epoch seconds (no evaluation)."""
    import torch

    counted = result.history[1:]
    seconds = sum(m.seconds for m in counted)
    images = result.train_images * len(counted)
    capture_error = next((m for m in messages if "capture" in m.lower()), None)
    return {
        "status": result.status,
        "reason": result.reason,
        "images_per_second": round(images / seconds, 2) if seconds > 0 else None,
        "images_per_second_all_epochs": round(result.images_per_second, 2),
        "epoch_seconds": [round(m.seconds, 4) for m in result.history],
        "steps": result.steps,
        "cuda_graphs": result.cuda_graphs,
        "bf16": on_cuda and cfg.bf16 and torch.cuda.is_bf16_supported(),
        "channels_last": on_cuda,
        "capture_error": capture_error,
        "final_train_loss": result.history[-1].train_loss if result.history else None,
    }


# ---- 2. packing: 1, 2, 4 trials at once -----------------------------------------------------------
def part_packing(suite: Suite, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import ray
    import torch

    import db
    from nas.search.config import SearchConfig
    from nas.search.driver import run_search
    from workers.datasets import load_dataset
    from workers.ray_executor import RayExecutor, init_ray

    plan = suite.plan
    on_cuda = plan.device.startswith("cuda") and torch.cuda.is_available()
    cpus = os.cpu_count() or 1
    if not on_cuda:
        suite.skip(
            "packing",
            "fractional GPUs per trial (--gpus-per-trial 1/k)",
            f"no CUDA device (device {plan.device!r}): each level's k Ray workers shared the CPU instead "
            "(num_cpus min(1, cores/k) each, gpus 0); trials/minute there measures CPU sharing, not GPU packing",
        )
    data = load_dataset(plan.dataset, data_dir=args.data_dir, val_fraction=0.1, seed=0, subset=plan.pack_subset)
    t_ray = time.monotonic()
    init_ray(None)
    ray_start = time.monotonic() - t_ray
    levels: dict[str, Any] = {}
    hashes_1: list[str] | None = None
    try:
        for k in plan.pack_levels:
            left = suite.remaining()
            if left is not None and left < 60:
                suite.skip("packing", f"level {k}", f"deadline: {left:.0f}s left of --deadline")
                levels[str(k)] = {"status": "skipped", "why": "deadline"}
                continue
            gpus = 1.0 / k if on_cuda else 0.0
            cpus_each = 1.0 if on_cuda else min(1.0, cpus / k)
            name, url = f"pack-{k}", f"sqlite:///{work / f'pack-{k}.db'}"
            config = SearchConfig(
                name=name,
                db=url,
                space="skipdag",
                space_options=dict(plan.space_options),
                dataset=plan.dataset,
                data_dir=args.data_dir,
                subset=plan.pack_subset,
                trials=plan.pack_trials,
                sampler="random",
                pruner="none",
                seed=0,
                train={"epochs": plan.pack_epochs, "batch_size": plan.pack_batch},
                concurrency=k,
                gpus_per_trial=gpus,
                cpus_per_trial=cpus_each,
                save_weights="none",
            )
            suite.command("packing", _pack_command(config, plan), "in-process")
            t = time.monotonic()
            executor = RayExecutor(data, slots=k, cpus=cpus_each, gpus=gpus)
            try:
                _wait_workers_ready(executor)
                ready = time.monotonic() - t
                summary = run_search(config, executor=executor, data=data)
            finally:
                executor.close()
            with db.connect(url, read_only=True) as store:
                trials = store.trials(name)
            trained = [t for t in trials if t.state in ("complete", "pruned", "failed")]  # trained, not reused
            span = _span_seconds(trained)
            hashes = sorted(t.arch_hash or "" for t in trials)
            if hashes_1 is None:
                hashes_1 = hashes
            level = {
                "slots": k,
                "gpus_per_trial": gpus,
                "cpus_per_trial": cpus_each,
                "trials": len(trials),
                "trained": summary.ran_this_time,
                "counts": summary.counts,
                "workers_ready_seconds": round(ready, 3),
                "search_elapsed_seconds": round(summary.elapsed_seconds, 3),
                "first_start_to_last_end_seconds": None if span is None else round(span, 3),
                "trials_per_minute": _per_minute(summary.ran_this_time, span or summary.elapsed_seconds),
                "train_seconds_sum": round(sum(t.train_seconds or 0.0 for t in trained), 3),
                "same_architectures_as_first_level": hashes == hashes_1,
                "devices": sorted({t.device for t in trained if t.device}),
            }
            levels[str(k)] = level
            suite.write()
    finally:
        ray.shutdown()  # frees the GPU before the subprocesses start their own Ray
    base = levels.get(str(plan.pack_levels[0]), {}).get("trials_per_minute")
    ratios = {
        f"{k}_over_{plan.pack_levels[0]}": _ratio(levels.get(str(k), {}).get("trials_per_minute"), base)
        for k in plan.pack_levels[1:]
    }
    suite.doc["ratios"]["packed_over_1"] = ratios
    return {
        "how": "Ray fractional GPUs: the product's only packing (nas search --gpus-per-trial 1/k)",
        "dataset": plan.dataset,
        "subset": plan.pack_subset,
        "epochs_per_trial": plan.pack_epochs,
        "batch_size": plan.pack_batch,
        "sampler": "random (seed 0), pruner none: every level trains the same architectures",
        "ray_start_seconds": round(ray_start, 3),
        "levels": levels,
        "ratios": ratios,
    }


def _pack_command(config, plan: Plan) -> str:
    cmd = [
        "nas", "search", "--name", config.name, "--db", config.db, "--space", "skipdag",
        "--dataset", plan.dataset, "--subset", str(plan.pack_subset), "--trials", str(plan.pack_trials),
        "--sampler", "random", "--pruner", "none", "--seed", "0",
        "--epochs", str(plan.pack_epochs), "--batch-size", str(plan.pack_batch),
        "--concurrency", str(config.concurrency), "--gpus-per-trial", f"{config.gpus_per_trial:g}",
        "--cpus-per-trial", f"{config.cpus_per_trial:g}", "--save-weights", "none",
    ]  # fmt: skip
    cmd += _space_flags(plan.space_options)
    return shlex.join(cmd) + "  # run as run_search(config, executor=RayExecutor(...)) with its workers up first"


def _wait_workers_ready(executor, timeout: float = 300.0) -> None:
    """Block until every worker of `executor` is up (its dataset resident on its device), so that
    a level's clock does not count process start-up. A worker answers `pid` only after its
    constructor ran; the executor keeps its idle workers in `_idle`."""
    import ray

    actors = list(getattr(executor, "_idle", []))
    if actors:
        ray.get([a.pid.remote() for a in actors], timeout=timeout)


def _span_seconds(trials) -> float | None:
    starts = [t.started_at for t in trials if t.started_at is not None]
    ends = [t.finished_at for t in trials if t.finished_at is not None]
    if not starts or not ends:
        return None
    span = (max(ends) - min(starts)).total_seconds()
    return span if span > 0 else None


# ---- 3. reference: the hand-written ResNet-18, final protocol ------------------------------------
def part_reference(suite: Suite, args: argparse.Namespace) -> dict[str, Any]:
    plan = suite.plan
    cmd = [
        sys.executable, str(ROOT / "bench" / "reference_accuracy.py"),
        "--dataset", plan.dataset, "--epochs", str(plan.final_epochs),
        "--batch-size", str(plan.final_batch), "--lr", f"{plan.final_lr:g}", "--seed", "0",
        "--widths", plan.reference_widths, "--blocks", plan.reference_blocks, "--device", plan.device,
    ]  # fmt: skip
    cmd += ["--data-dir", args.data_dir] if args.data_dir else []
    proc = _run(suite, "reference", cmd)
    rec = _proc_record(proc)
    out = _last_json(proc.stdout)
    if proc.returncode != 0 or not isinstance(out, dict):
        rec["status"] = "failed"
        return rec
    rec.update(
        {
            "model": f"hand-written ResNet (bench/resnet.py), widths {plan.reference_widths}, blocks "
            f"{plan.reference_blocks}",
            "test_accuracy": out.get("test_accuracy"),
            "test_loss": out.get("test_loss"),
            "train_seconds": out.get("train_seconds"),
            "images_per_second": out.get("images_per_second"),
            "epochs": out.get("epochs"),
            "output": out,
        }
    )
    return rec


# ---- 4. search: nas search with a time budget ---------------------------------------------------
def part_search(suite: Suite, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    plan = suite.plan
    budget, why = plan.search_budget, None
    left = suite.remaining()
    if left is not None:
        ref = suite.doc["parts"].get("reference", {})
        reserve = ref["wall_seconds"] + 15.0 if ref.get("wall_seconds") else plan.final_reserve
        fits = left - reserve - 30.0  # 30 s: the search's own start-up and its last epoch
        if fits < budget:
            budget, why = max(0.0, fits), f"shortened from {plan.search_budget:g}s to leave the final {reserve:.0f}s"
        if budget < plan.search_min_budget:
            suite.skip("search", "the time-budgeted search", f"deadline: {left:.0f}s left, too little for a search")
            return {"status": "skipped", "why": "deadline", "budget_seconds": budget}
    url = f"sqlite:///{work / 'search.db'}"
    cmd = [
        sys.executable, "-m", "nas", "search", "--name", "gpu-suite", "--db", url, "--space", "skipdag",
        "--dataset", plan.dataset, "--time-budget", f"{budget:.0f}s" if budget >= 1 else "1s",
        "--epochs", str(plan.search_epochs), "--batch-size", str(plan.search_batch), "--seed", "0",
        "--executor", plan.search_executor, "--json", "--no-progress",
    ]  # fmt: skip
    if plan.search_gpus_per_trial > 0:
        cmd += ["--gpus-per-trial", f"{plan.search_gpus_per_trial:g}"]
    cmd += _space_flags(plan.space_options)
    cmd += ["--data-dir", args.data_dir] if args.data_dir else []
    proc = _run(suite, "search", cmd)
    rec = _proc_record(proc)
    rec.update({"db": url, "budget_seconds": budget, "budget_shortened": why, "executor": plan.search_executor})
    out = _last_json(proc.stdout)
    if proc.returncode != 0 or not isinstance(out, dict):
        rec["status"] = "failed"
        return rec
    trained = out.get("trained_this_run") or 0
    rec.update(
        {
            "summary": out,
            "trained": trained,
            "best": out.get("best"),
            "trials_per_minute": _per_minute(trained, out.get("elapsed_seconds")),
        }
    )
    if not out.get("best"):
        rec["status"] = "failed"
        rec["error"] = "the search finished without a completed trial"
    return rec


# ---- 5. final: nas evaluate of the search's best ---------------------------------------------------
def part_final(suite: Suite, args: argparse.Namespace) -> dict[str, Any]:
    plan = suite.plan
    search = suite.doc["parts"].get("search", {})
    if search.get("status") != "ok":
        suite.skip("final", "nas evaluate of the search's best", f"the search did not finish: {search.get('status')}")
        return {"status": "skipped", "why": "no search"}
    cmd = [
        sys.executable, "-m", "nas", "evaluate", "--db", search["db"], "--search", "gpu-suite",
        "--top", "1", "--seeds", "1", "--epochs", str(plan.final_epochs),
        "--batch-size", str(plan.final_batch), "--lr", f"{plan.final_lr:g}", "--device", plan.device,
        "--format", "json", "--no-progress",
    ]  # fmt: skip
    cmd += ["--data-dir", args.data_dir] if args.data_dir else []
    proc = _run(suite, "final", cmd)
    rec = _proc_record(proc)
    out = _last_json(proc.stdout, whole=True)
    if proc.returncode != 0 or not isinstance(out, list) or not out:
        rec["status"] = "failed"
        return rec
    best = out[0]
    rec.update(
        {
            "trial": best.get("trial"),
            "hash": best.get("hash"),
            "params": best.get("params"),
            "val_accuracy": best.get("val_accuracy"),
            "test_accuracy": best.get("test_accuracy"),
            "train_seconds": best.get("train_seconds"),
            "epochs": best.get("epochs"),
            "train_images": best.get("train_images"),
            "output": best,
        }
    )
    ref = suite.doc["parts"].get("reference", {})
    if ref.get("status") == "ok" and rec["test_accuracy"] is not None and ref.get("test_accuracy") is not None:
        suite.doc["ratios"]["final_vs_reference"] = {
            "test_accuracy_final": rec["test_accuracy"],
            "test_accuracy_reference": ref["test_accuracy"],
            "test_accuracy_difference": round(rec["test_accuracy"] - ref["test_accuracy"], 4),
            "train_seconds_ratio": _ratio(rec["train_seconds"], ref.get("train_seconds")),
            "wall_seconds_ratio": _ratio(rec["wall_seconds"], ref.get("wall_seconds")),
            "params_ratio": _ratio(rec["params"], _resnet_params(plan)),
        }
    return rec


def _resnet_params(plan: Plan) -> int | None:
    try:
        from bench.resnet import ResNet

        widths = [int(v) for v in plan.reference_widths.split(",")]
        blocks = [int(v) for v in plan.reference_blocks.split(",")]
        channels = 3 if plan.dataset.startswith("cifar") else 1
        return sum(p.numel() for p in ResNet(channels, widths, blocks, 10).parameters())
    except Exception:  # noqa: BLE001 - a figure for the record only
        return None


# ---- helpers --------------------------------------------------------------------------------------
def _space_flags(options: dict[str, Any]) -> list[str]:
    flags: list[str] = []
    for key, value in options.items():
        flags += ["--space-option", f"{key}={json.dumps(value, separators=(',', ':'))}"]
    return flags


def _run(suite: Suite, part: str, cmd: list[str]) -> subprocess.CompletedProcess:
    """Run `cmd` from the repository root with the source tree on PYTHONPATH, within the deadline."""
    suite.command(part, shlex.join(cmd), "subprocess")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    if suite.plan.threads is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(suite.plan.threads)
    left = suite.remaining()
    timeout = None if left is None else max(10.0, left - 5.0)
    t = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        proc = subprocess.CompletedProcess(cmd, 124, _text(e.stdout), _text(e.stderr) + f"\n[timeout {timeout:.0f}s]")
    proc.wall_seconds = time.monotonic() - t  # type: ignore[attr-defined]
    return proc


def _text(b: bytes | str | None) -> str:
    if b is None:
        return ""
    return b.decode(errors="replace") if isinstance(b, bytes) else b


def _proc_record(proc: subprocess.CompletedProcess) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "command": shlex.join(proc.args),
        "returncode": proc.returncode,
        "wall_seconds": round(proc.wall_seconds, 3),  # type: ignore[attr-defined]
        "stderr_tail": proc.stderr[-3000:],
    }
    if proc.returncode != 0:
        rec["error"] = "timed out (--deadline)" if proc.returncode == 124 else f"exit code {proc.returncode}"
        rec["stdout_tail"] = proc.stdout[-2000:]
    return rec


def _last_json(stdout: str, whole: bool = False) -> Any:
    """The JSON a command printed: its whole stdout (`whole`), else its last JSON line."""
    if whole:
        try:
            return json.loads(stdout)
        except json.JSONDecodeError:
            return None
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def _per_minute(n: int | None, seconds: float | None) -> float | None:
    if not n or not seconds:
        return None
    return round(60.0 * n / seconds, 3)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _jsonable(o: Any) -> Any:
    if isinstance(o, dt.datetime | dt.date):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, tuple | set):
        return list(o)
    return str(o)


def _dataset_problem(plan: Plan, args: argparse.Namespace) -> str | None:
    """None when the dataset loads from local files, else why not (it is never downloaded here)."""
    from workers.datasets import DatasetError, load_dataset

    try:
        load_dataset(plan.dataset, data_dir=args.data_dir, val_fraction=0.0, download=False)
    except DatasetError as e:
        return f"dataset {plan.dataset!r} is not available here: {e}"
    return None


# ---- main -----------------------------------------------------------------------------------------
def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="the JSON file to write")
    p.add_argument("--smoke", action="store_true", help="CI-sized, on the CPU (synthetic data, tiny networks)")
    p.add_argument("--data-dir", help="where the dataset files are (else NAS_DATA_DIR and the standard places)")
    p.add_argument("--workdir", help="databases of the searches (default: a temporary folder, removed at the end)")
    p.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)} (default: all)"
    )
    p.add_argument(
        "--deadline", type=float, help="seconds this run may take (0: no limit; default: 560 full, none with --smoke)"
    )
    p.add_argument("--search-budget", type=float, help="seconds of the search (default: 300 full, 2 with --smoke)")
    p.add_argument("--final-epochs", type=int, help="epochs of the final and the reference (default: 30 full)")
    args = p.parse_args(argv)
    parts = [s.strip() for s in args.parts.split(",") if s.strip()]
    unknown = [s for s in parts if s not in PARTS]
    if unknown:
        p.error(f"--parts: unknown {', '.join(unknown)}; use some of {', '.join(PARTS)}")
    args.parts = parts
    return args


def make_plan(args: argparse.Namespace) -> Plan:
    plan = SMOKE if args.smoke else FULL
    changes: dict[str, Any] = {}
    if args.deadline is not None:
        changes["deadline"] = args.deadline if args.deadline > 0 else None
    if args.search_budget is not None:
        changes["search_budget"] = args.search_budget
    if args.final_epochs is not None:
        changes["final_epochs"] = args.final_epochs
    return dataclasses.replace(plan, **changes)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    plan = make_plan(args)
    import torch

    from workers.trainer import resolve_device

    if not args.smoke and not torch.cuda.is_available():
        print(
            "gpu_suite: the full suite needs CUDA (it would take hours on the CPU); use --smoke for the CI-sized "
            "CPU run",
            file=sys.stderr,
        )
        return 2
    if plan.threads is not None:
        torch.set_num_threads(plan.threads)
    suite = Suite(Path(args.out).resolve(), plan, args.smoke, [str(Path(__file__).resolve()), *argv])
    device = resolve_device(plan.device)
    suite.doc["environment"] = environment(device)
    problem = _dataset_problem(plan, args)
    if problem:  # no network on the GPU machine: say so at once rather than in every part
        suite.doc["environment"]["dataset_error"] = problem
        for name in PARTS:
            suite.doc["parts"][name] = {"status": "failed", "error": problem}
        suite.doc["finished"] = _now()
        suite.write()
        print(f"gpu_suite: {problem}", file=sys.stderr)
        return 1
    if args.smoke:
        suite.doc["smoke"] = (
            "CI-sized: synthetic data, tiny networks and budgets, the CPU; the search uses the local executor "
            "(Ray runs in the packing part); no figure here says anything about a GPU"
        )
    for name in PARTS:  # the JSON lists the parts in the order they run
        suite.doc["parts"][name] = {"status": "pending"}
        if name not in args.parts:
            suite.skip(name, "the whole part", "not in --parts")
            suite.doc["parts"][name] = {"status": "skipped", "why": "not in --parts"}
    suite.write()
    with tempfile.TemporaryDirectory(prefix="gpu_suite_") as tmp:
        work = Path(args.workdir).resolve() if args.workdir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        runners = {
            "steps": (part_steps, args),
            "packing": (part_packing, args, work),
            "reference": (part_reference, args),
            "search": (part_search, args, work),
            "final": (part_final, args),
        }
        for name in PARTS:
            if name in args.parts:
                fn, *rest = runners[name]
                suite.run_part(name, fn, *rest)
    suite.doc["finished"] = _now()
    suite.doc["complete"] = True
    suite.write()
    failed = [n for n, r in suite.doc["parts"].items() if r.get("status") == "failed"]
    print(f"gpu_suite: wrote {suite.out} in {suite.elapsed():.0f}s; failed parts: {failed or 'none'}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
