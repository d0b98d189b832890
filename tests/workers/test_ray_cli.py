"""`nas[cluster]` (ray[default]) on a token-mode cluster, as the README's "Running on a Ray
cluster" runs it: a search through `--address` with the token, then `ray status`, `ray list
nodes`, `ray list actors` and the dashboard's HTTP API, each with the token and without it.

As in tests/workers/test_ray_token_auth.py, the head runs in network and PID namespaces of its
own (`unshare -rn --pid`): reachable on loopback only, and ended by the kernel with the harness.
Skipped where those namespaces are not allowed, or where ray[default]'s dashboard packages are
not installed (`pip install 'nas[cluster]'`; scripts/setup.sh installs them).
"""

from __future__ import annotations

import importlib.util
import json
import secrets
from pathlib import Path

import pytest

from tests.workers.test_ray_token_auth import _namespaces_work, run_in_namespaces

ROOT = str(Path(__file__).resolve().parents[2])

# Runs inside the namespaces: `python HARNESS WORKDIR TOKEN`; prints one JSON object.
HARNESS = r"""
import fcntl, json, os, socket, struct, subprocess, sys, time, urllib.error, urllib.request

work, token = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bring the namespace's loopback up
flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH", b"lo", 0)))[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 1))

base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
base.update(HOME=os.path.join(work, "home"), PYTHONPATH=os.environ.get("PYTHONPATH", ""))
os.makedirs(base["HOME"], exist_ok=True)
tok = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
subprocess.Popen(
    [ray_bin, "start", "--head", "--block", "--port", "6379", "--node-ip-address", "127.0.0.1",
     "--include-dashboard", "true", "--dashboard-host", "127.0.0.1", "--num-cpus", "2",
     "--temp-dir", os.path.join(work, "ray"), "--disable-usage-stats"],
    env={**base, **tok}, stdout=open(os.path.join(work, "head.log"), "w"), stderr=subprocess.STDOUT,
)

def get(path, headers):
    try:
        r = urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:8265" + path, headers=headers), timeout=5)
        return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()

deadline = time.monotonic() + 120
while True:  # the dashboard answers (401 without the token) once the head is up
    try:
        get("/api/version", {})
        break
    except OSError:
        if time.monotonic() > deadline:
            print(json.dumps({"error": "no dashboard: " + open(os.path.join(work, "head.log")).read()[-2000:]}))
            sys.exit(0)
        time.sleep(0.5)

def run(argv, env, timeout=300):
    try:
        done = subprocess.run(argv, env={**base, **env}, capture_output=True, text=True, timeout=timeout, cwd=work)
    except subprocess.TimeoutExpired as e:
        text = lambda b: (b or b"").decode() if isinstance(b, bytes) else (b or "")
        return {"rc": "timeout", "stdout": text(e.stdout), "stderr": text(e.stderr)[-3000:]}
    return {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr[-3000:]}

out = {}
out["search"] = run(
    [sys.executable, "-m", "nas", "search", "--name", "c", "--db", "sqlite:///" + os.path.join(work, "nas.db"),
     "--dataset", "synthetic", "--subset", "300", "--trials", "2", "--epochs", "1", "--no-progress", "--json",
     "--executor", "ray", "--address", "127.0.0.1:6379", "-v"], tok, timeout=600)
for _ in range(30):  # `ray status` says "No cluster status" for the first seconds of a head
    out["status"] = run([ray_bin, "status", "--address", "127.0.0.1:6379"], tok)
    if "Node status" in out["status"]["stdout"]:
        break
    time.sleep(1)
out["status, no token"] = run([ray_bin, "status", "--address", "127.0.0.1:6379"], {})
api = ["--address", "http://127.0.0.1:8265"]
out["list nodes"] = run([ray_bin, "list", "nodes", *api], tok)
out["list actors"] = run([ray_bin, "list", "actors", "--limit", "100", *api], tok)
out["list nodes, no token"] = run([ray_bin, "list", "nodes", *api], {})
out["version"] = get("/api/version", {"Authorization": "Bearer " + token})
out["version, no token"] = get("/api/version", {})
print(json.dumps(out))
"""


@pytest.mark.slow
def test_ray_status_list_and_dashboard_on_a_token_cluster_after_a_search():
    if not _namespaces_work():
        pytest.skip("needs unprivileged user, network and PID namespaces (unshare -rn --pid)")
    if importlib.util.find_spec("aiohttp") is None or importlib.util.find_spec("opencensus") is None:
        pytest.skip("ray[default] is not installed: pip install 'nas[cluster]'")
    token = secrets.token_hex(16)
    out = run_in_namespaces(HARNESS, token, prefix="nascli-", timeout=1200)

    search = out["search"]
    assert search["rc"] == 0, search["stderr"]
    summary = json.loads(search["stdout"].strip().splitlines()[-1])
    assert summary["status"] == "finished" and summary["counts"].get("complete", 0) >= 1, summary
    # with the token: the cluster's status, its node, and the search's trial workers among the actors
    assert out["status"]["rc"] == 0 and "Node status" in out["status"]["stdout"], out["status"]
    assert "CPU" in out["status"]["stdout"]
    nodes = out["list nodes"]
    assert nodes["rc"] == 0 and "127.0.0.1" in nodes["stdout"] and "ALIVE" in nodes["stdout"], nodes
    actors = out["list actors"]
    assert actors["rc"] == 0 and "TrialWorker" in actors["stdout"], actors
    status, body = out["version"]
    assert status == 200 and json.loads(body)["ray_version"]
    # without it: refused, by the GCS and by the dashboard alike
    assert out["status, no token"]["rc"] != 0 and "InvalidAuthToken" in out["status, no token"]["stderr"]
    refused = out["list nodes, no token"]
    assert refused["rc"] != 0 and "Missing authentication token" in refused["stderr"]
    assert out["version, no token"][0] == 401
