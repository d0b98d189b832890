"""Signals, Ray requests that cannot work, per-trial seeds and honest records of repeats.

Each test drives the real product: the CLI in a subprocess for signals, the driver with the
in-process executor or a private local Ray for the rest.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest

import db
from nas.search.driver import run_search
from tests.search.test_search import ONE_ARCH, _cli, _count, _env, _wait_for, config, states
from workers.records import trial_seed

ROOT = str(Path(__file__).resolve().parents[2])


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (Linux /proc), e.g. the driver's private Ray and its workers."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - out
        out |= frontier
    return out


def _show(pids: set[int]) -> str:
    out = []
    for p in sorted(pids):
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            out.append(f"{p}: {cmd[:150]}")
        except OSError:
            pass
    return "; ".join(out)


# Ray's own agents (dashboard, runtime-env) run no trials and exit by themselves about a minute
# after their raylet; the guarantee is about the processes that train and the cluster core.
RAY_AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent", "ray::DashboardA")


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if state != "Z" and not cmd.startswith(RAY_AGENTS):
            alive.add(p)
    return alive


# ---- SIGTERM and SIGHUP end a search as Ctrl-C does ------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_records_in_flight_trials_and_exits_128_plus_signal(tmp_path, sig):
    url = f"sqlite:///{tmp_path}/nas.db"
    args = _cli(tmp_path, "--trials", "3", "--executor", "local", "--epochs", "30")
    proc = subprocess.Popen(args, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: _count(url, "k", "running") >= 1 or proc.poll() is not None)
        time.sleep(1.0)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig
    lines = err.strip().splitlines()
    assert lines[-1] == f"nas: search 'k' stopped by {sig.name}; run the same command again to resume it"
    assert "Traceback" not in err
    store = db.connect(url)
    assert _count(url, "k", "interrupted") == 1 and _count(url, "k", "running") == 0
    assert store.get_search("k").status == "interrupted"
    study = optuna.load_study(study_name="nas:k", storage=url)
    failed, queued = study.trials  # Optuna agrees, and holds the architecture for the resume
    assert failed.state == optuna.trial.TrialState.FAIL
    assert queued.state == optuna.trial.TrialState.WAITING and queued.user_attrs["requeued_from"] == failed.number


def test_sigterm_stops_the_ray_workers_too(tmp_path):
    url = f"sqlite:///{tmp_path}/nas.db"
    args = _cli(tmp_path, "--trials", "4", "--executor", "ray", "--concurrency", "2", "--epochs", "30")
    proc = subprocess.Popen(args, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: _count(url, "k", "running") >= 2 or proc.poll() is not None)
        below = _descendants(proc.pid)
        assert below, "the driver started no processes"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err[-2000:]
    assert _count(url, "k", "interrupted") == 2 and _count(url, "k", "running") == 0
    assert _wait_for(lambda: not _alive(below), timeout=30), f"still alive: {_show(_alive(below))}"


def test_workers_die_with_a_sigkilled_driver(tmp_path):
    url = f"sqlite:///{tmp_path}/nas.db"
    args = _cli(tmp_path, "--trials", "4", "--executor", "ray", "--concurrency", "2", "--epochs", "30")
    proc = subprocess.Popen(args, cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: _count(url, "k", "running") >= 2 or proc.poll() is not None)
        below = _descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the workers watch their driver (DRIVER_CHECK_S) and Ray's own processes follow
    assert _wait_for(lambda: not _alive(below), timeout=30), f"still alive: {_show(_alive(below))}"


# ---- Ray requests that cannot work fail fast, before anything is written ---------------------
@pytest.mark.parametrize(
    "extra, says",
    [
        (["--address", "127.0.0.1:1"], "--address 127.0.0.1:1: no Ray cluster answers there"),
        (["--address", "ray://127.0.0.1:1"], "ray://"),
        (["--address", "nonsense"], "is not host:port"),
        (["--cpus-per-trial", "4096"], "--cpus-per-trial 4096: this machine has"),
    ],
)
def test_impossible_ray_requests_fail_in_seconds_with_one_line(tmp_path, extra, says):
    args = _cli(tmp_path, "--trials", "2", "--executor", "ray", *extra)
    done = subprocess.run(args, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in done.stderr
    assert db.connect(f"sqlite:///{tmp_path}/nas.db").get_search("k") is None  # nothing written


def test_a_search_never_joins_a_ray_cluster_named_in_the_environment(tmp_path):
    # a plain ray.init() would follow RAY_ADDRESS; ours starts a private Ray unless --address is given
    env = {**_env(), "RAY_ADDRESS": "127.0.0.1:1"}
    args = _cli(tmp_path, "--trials", "1", "--executor", "ray", "--epochs", "1")
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _count(f"sqlite:///{tmp_path}/nas.db", "k", "complete") == 1


# ---- seeds -----------------------------------------------------------------------------------
def test_each_trial_trains_with_its_own_stored_seed_derived_from_the_search_seed(tmp_path):
    cfg = config(tmp_path, trials=3, seed=7, train={"epochs": 1, "batch_size": 64})
    run_search(cfg)
    study = optuna.load_study(study_name="nas:s", storage=cfg.db)
    seeds = [t.user_attrs["seed"] for t in study.trials]
    assert seeds == [trial_seed(7, t.number) for t in study.trials]
    assert len(set(seeds)) == 3 and trial_seed(8, 0) != trial_seed(7, 0)


def test_the_same_seed_gives_the_same_numbers_in_process_and_on_ray(tmp_path):
    def run(executor: str) -> dict[int, float]:
        cfg = config(tmp_path / executor, trials=2, seed=3, executor=executor, concurrency=1, cpus_per_trial=1)
        (tmp_path / executor).mkdir()
        run_search(cfg)
        return {t.optuna_number: t.val_accuracy for t in db.connect(cfg.db).trials("s")}

    local, on_ray = run("local"), run("ray")
    assert local == on_ray and len(local) == 2


# ---- repeats are not new observations --------------------------------------------------------
def test_a_pruned_architecture_sampled_again_is_told_pruned_not_retrained(tmp_path):
    # --trial-timeout 0 caps every run after its first epoch: the one architecture is pruned once
    cfg = config(tmp_path, trials=3, space_options=ONE_ARCH, train={"epochs": 5, "batch_size": 64, "max_seconds": 0.0})
    run_search(cfg)
    store = db.connect(cfg.db)
    assert states(store, "s") == ["pruned"] * 3
    first, *again = store.trials("s")
    assert len(store.epochs(first.id)) == 1
    for t in again:
        assert t.duplicate_of == first.id and store.epochs(t.id) == []  # not trained again
        assert "pruned before as trial 0 after 1 epochs; not trained again" in t.error
    study = optuna.load_study(study_name="nas:s", storage=cfg.db)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.PRUNED] * 3
    assert [list(t.intermediate_values) for t in study.trials] == [[1]] * 3  # at its stored step


def test_optuna_and_the_nas_tables_agree_trial_by_trial(tmp_path):
    cfg = config(tmp_path, trials=4, space_options=ONE_ARCH, train={"epochs": 1, "batch_size": 64})
    run_search(cfg)
    expected = {
        "complete": optuna.trial.TrialState.COMPLETE,
        "duplicate": optuna.trial.TrialState.FAIL,
        "pruned": optuna.trial.TrialState.PRUNED,
    }
    study = optuna.load_study(study_name="nas:s", storage=cfg.db)
    told = {t.number: t.state for t in study.trials}
    rows = db.connect(cfg.db).trials("s")
    assert len(rows) == len(told) == 4
    for row in rows:
        assert told[row.optuna_number] == expected[row.state]


# ---- one driver per search -------------------------------------------------------------------
def test_a_second_driver_on_the_same_name_is_refused_while_the_first_runs(tmp_path):
    url = f"sqlite:///{tmp_path}/nas.db"
    args = _cli(tmp_path, "--trials", "3", "--executor", "local", "--epochs", "30")
    first = subprocess.Popen(args, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: _count(url, "k", "running") >= 1 or first.poll() is not None)
        before = [(t.id, t.state) for t in db.connect(url).trials("k")]
        second = subprocess.run(args, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr[-2000:]
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and f"is being run by process {first.pid} on" in lines[0] and "--name" in lines[0]
        # the refused process changed nothing: the first one's running trial is still its own
        assert [(t.id, t.state) for t in db.connect(url).trials("k")] == before
        assert first.poll() is None
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=240)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 143
    # once the first has stopped, the same command resumes the search
    resumed = subprocess.run(
        args + ["--time-budget", "3"], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    store = db.connect(url)
    assert store.get_search("k").status == "finished" and _count(url, "k", "running") == 0
    study = optuna.load_study(study_name="nas:k", storage=url)
    told = {t.number: t.state for t in study.trials}
    for t in store.trials("k"):  # Optuna and the nas_ tables agree trial by trial
        assert told[t.optuna_number].is_finished()


def test_claims_are_atomic_and_a_stale_claim_can_be_taken_over(tmp_path):
    store = db.connect(f"sqlite:///{tmp_path}/nas.db")
    store.create_or_get_search(
        "s",
        space="skipdag",
        space_options={},
        dataset="synthetic",
        train_config={},
        objectives=["val_accuracy"],
        config={},
        code_version="x",
        optuna_study_name="nas:s",
        driver="h:1:a",
    )
    assert store.claim_search("s", "h:1:a", stale_after_s=60) is None  # its own
    holder, age = store.claim_search("s", "h:2:b", stale_after_s=60)
    assert holder == "h:1:a" and 0 <= age < 60
    assert store.heartbeat_search("s", "h:1:a") and not store.heartbeat_search("s", "h:2:b")
    assert store.claim_search("s", "h:2:b", stale_after_s=60, steal_from="h:1:a") is None  # a dead holder
    assert not store.heartbeat_search("s", "h:1:a")  # the old holder knows it lost the claim
    store.release_search("s", "h:2:b", "finished")
    assert store.get_search("s").status == "finished"
    assert store.claim_search("s", "h:3:c", stale_after_s=60) is None  # released: free


def test_a_subset_too_small_to_train_is_refused_before_any_search_row(tmp_path, capsys):
    from nas.cli import main

    url = f"sqlite:///{tmp_path}/nas.db"
    rc = main(["search", "--db", url, "--dataset", "synthetic", "--subset", "1", "--executor", "local"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--subset 1: leaves 1 training" in err[0]
    assert db.connect(url).list_searches() == []
