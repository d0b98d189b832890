"""`nas search --address HOST:PORT` to a Ray cluster with token authentication
(workers/_ray_auth.py): refused in one line naming the fix, in seconds, before anything is written.

The end-to-end test starts a real token-mode Ray head. Ray's GCS listens on every interface and
has no option to listen on loopback only, so the head runs in a network namespace of its own
(`unshare -rn`: only a loopback device, unreachable from outside) and in a PID namespace
(`--pid --fork`): when the harness ends, the kernel ends every process of that Ray with it, and
no `ray stop` (which stops every Ray on the machine) is needed. Where unprivileged namespaces
are not allowed the test is skipped. Inside, each case runs as its own process, since Ray reads
RAY_AUTH_MODE once, when it is imported.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = str(Path(__file__).resolve().parents[2])
PORT = 6379  # the namespace has no other listener

# Runs inside the namespaces: `python HARNESS WORKDIR TOKEN PORT`; prints one JSON object.
HARNESS = r"""
import fcntl, json, os, socket, struct, subprocess, sys, time

work, token, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
# bring the namespace's loopback up (SIOCGIFFLAGS, SIOCSIFFLAGS | IFF_UP)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH", b"lo", 0)))[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 1))

base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
base.update(HOME=os.path.join(work, "home"), PYTHONPATH=os.environ.get("PYTHONPATH", ""))
os.makedirs(base["HOME"], exist_ok=True)
ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
head = subprocess.Popen(
    [ray_bin, "start", "--head", "--block", "--port", str(port), "--node-ip-address", "127.0.0.1",
     "--include-dashboard", "false", "--num-cpus", "1", "--temp-dir", os.path.join(work, "ray"),
     "--disable-usage-stats"],
    env={**base, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token},
    stdout=open(os.path.join(work, "head.log"), "w"), stderr=subprocess.STDOUT,
)
deadline = time.monotonic() + 60
while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > deadline or head.poll() is not None:
            log = open(os.path.join(work, "head.log")).read()[-2000:]
            print(json.dumps({"error": "the head did not start: " + log}))
            sys.exit(0)
        time.sleep(0.2)

address = f"127.0.0.1:{port}"
check = [sys.executable, "-c", f"from workers.ray_executor import check_address; check_address({address!r})"]
search = [sys.executable, "-m", "nas", "search", "--name", "k", "--db", "sqlite:///" + os.path.join(work, "nas.db"),
          "--dataset", "synthetic", "--subset", "300", "--trials", "1", "--epochs", "1", "--no-progress",
          "--executor", "ray", "--address", address]
cases = {
    "search, no token": (search, {}),
    "wrong token": (check, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 32}),
    "token mode, no token": (check, {"RAY_AUTH_MODE": "token"}),
    "the right token": (check, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}),
}
out = {}
for name, (argv, extra) in cases.items():
    t0 = time.monotonic()
    done = subprocess.run(argv, env={**base, **extra}, capture_output=True, text=True, timeout=120, cwd=work)
    out[name] = {"rc": done.returncode, "stderr": done.stderr, "seconds": time.monotonic() - t0}
out["db written"] = os.path.exists(os.path.join(work, "nas.db"))
print(json.dumps(out))
"""


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        done = subprocess.run(
            ["unshare", "-rn", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def run_in_namespaces(harness: str, *args: str, prefix: str, timeout: float) -> dict:
    """Run the Python `harness` as `python HARNESS WORKDIR ARGS...` in network and PID namespaces
    of its own (a Ray head there is on loopback only and ends with it), in a fresh working folder
    under /tmp (short: Ray's socket paths under --temp-dir must stay within 107 bytes); return
    the JSON object it prints last."""
    work = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    try:
        path = Path(work) / "harness.py"
        path.write_text(harness)
        done = subprocess.run(
            ["unshare", "-rn", "--pid", "--fork", "--mount-proc", sys.executable, str(path), work, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": ROOT},
        )
        assert done.returncode == 0, done.stderr[-3000:]
        out = json.loads(done.stdout.strip().splitlines()[-1])
        assert "error" not in out, out.get("error")
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-3000:]
    return lines[0]


@pytest.mark.slow
def test_a_token_mode_cluster_refuses_in_one_line_what_ray_would_refuse_after_20_s():
    if not _namespaces_work():
        pytest.skip("needs unprivileged user, network and PID namespaces (unshare -rn --pid)")
    token = secrets.token_hex(16)
    out = run_in_namespaces(HARNESS, token, str(PORT), prefix="nasauth-", timeout=400)

    # no RAY_AUTH_MODE: refused fast (Ray alone: ~20 s of retries, then a ConnectionError traceback)
    case = out["search, no token"]
    line = _one_line(case["stderr"])
    assert case["rc"] == 2 and line.startswith("nas: error: --address 127.0.0.1:6379: ")
    assert "requires token authentication" in line and "RAY_AUTH_MODE=token" in line
    assert "RAY_AUTH_TOKEN=" in line and "RAY_AUTH_TOKEN_PATH=" in line and token not in line
    assert not out["db written"]  # refused before the database was opened for writing
    # a wrong token, and token mode with no token at all (Ray would abort the process)
    case = out["wrong token"]
    assert case["rc"] == 1 and "RayUnavailable" in case["stderr"]  # a plain `python -c`: a traceback
    assert "refused the token from RAY_AUTH_TOKEN" in case["stderr"].splitlines()[-1]
    case = out["token mode, no token"]
    assert case["rc"] == 1 and "no token was found" in case["stderr"].splitlines()[-1]
    assert "~/.ray/auth_token does not exist" in case["stderr"]
    # the right token is let through
    case = out["the right token"]
    assert case["rc"] == 0, case["stderr"][-3000:]
    assert case["seconds"] < 30


@pytest.mark.parametrize(
    "status, env, says",
    [
        ("needs-token", {}, ["requires token authentication", "set RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN=<token>"]),
        ("refused-token", {"RAY_AUTH_TOKEN_PATH": "/t/tok"}, ["refused the token from RAY_AUTH_TOKEN_PATH=/t/tok"]),
        ("no-token", {"RAY_AUTH_MODE": "token"}, ["RAY_AUTH_MODE=token but no token was found", "~/.ray/auth_token"]),
        ("unreadable-token", {"RAY_AUTH_TOKEN_PATH": "/t/x"}, ["RAY_AUTH_TOKEN_PATH=/t/x cannot be read"]),
    ],
)
def test_each_refusal_names_the_variables_to_set(monkeypatch, status, env, says):
    from workers import _ray_auth
    from workers.ray_executor import RayUnavailable

    for var in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(
        _ray_auth.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout=f"{status}\n")
    )
    with pytest.raises(RayUnavailable) as e:
        _ray_auth.check_token_auth("10.0.0.1:6379")
    message = str(e.value)
    assert "\n" not in message and message.startswith("--address 10.0.0.1:")
    for word in says:
        assert word in message, (word, message)


def test_an_answer_the_probe_does_not_know_refuses_nothing(monkeypatch):
    from workers import _ray_auth

    for stdout in ("ok\n", "error RpcError: unavailable\n", ""):
        monkeypatch.setattr(
            _ray_auth.subprocess, "run", lambda *a, s=stdout, **k: subprocess.CompletedProcess(a, 0, stdout=s)
        )
        _ray_auth.check_token_auth("10.0.0.2:1")  # ray.init goes ahead and reports what it finds


def test_a_listener_that_is_no_ray_cluster_is_refused_after_the_probe_times_out(monkeypatch):
    from workers import _ray_auth
    from workers.ray_executor import RayUnavailable

    def run(*a, **k):
        raise subprocess.TimeoutExpired(a, k["timeout"])

    monkeypatch.setattr(_ray_auth.subprocess, "run", run)
    t0 = time.monotonic()
    with pytest.raises(RayUnavailable, match=r"^--address 10.0.0.3:1: something listens there.*GCS address"):
        _ray_auth.check_token_auth("10.0.0.3:1")
    assert time.monotonic() - t0 < 5
