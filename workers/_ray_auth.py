"""Ray's token authentication, checked before `ray.init(address=HOST:PORT)` joins a cluster.

A cluster started with ``RAY_AUTH_MODE=token`` refuses every process that does not send its
token. Ray itself then retries for about 20 s and raises a `ConnectionError` whose traceback
does not say why; with ``RAY_AUTH_MODE=token`` set and no token anywhere, the process aborts
in Ray's C++ code. So `check_token_auth` asks the cluster first, in a child process (Ray's C++
client logs to stderr and may abort; a child keeps both away from the search and can be timed
out): it makes the same GCS connection `ray.init` would, with this process's environment, and
reports in one word whether the cluster let it in. Refusals become one line naming the fix:
``RAY_AUTH_MODE=token`` and the token, in ``RAY_AUTH_TOKEN`` or a file named by
``RAY_AUTH_TOKEN_PATH`` (default ``~/.ray/auth_token``), as Ray 2.60 reads them
(``ray/_private/authentication/``, ``ray.exceptions.AuthenticationError``).

Ray reads ``RAY_AUTH_MODE`` when it is imported, so it must be set before `nas search` starts;
the child inherits the same environment, so its answer is the one `ray.init` would get.
"""

from __future__ import annotations

import os
import subprocess
import sys

from workers.ray_executor import RayUnavailable

#: Seconds for the whole probe (a Python start, importing Ray's client, one GCS call).
PROBE_TIMEOUT_S = 10.0
#: Where Ray looks for the token when neither RAY_AUTH_TOKEN nor RAY_AUTH_TOKEN_PATH is set.
DEFAULT_TOKEN_FILE = "~/.ray/auth_token"
#: Addresses that passed, so `init_ray` does not ask again after the driver's own check.
_ADMITTED: set[str] = set()

# Run as `python -c _PROBE HOST:PORT`; prints one status word (and, for "error", a reason).
_PROBE = r"""
import sys
from ray._raylet import AuthenticationMode, AuthenticationTokenLoader, GcsClient, get_authentication_mode
from ray.exceptions import AuthenticationError

token_mode = get_authentication_mode() == AuthenticationMode.TOKEN
if token_mode:
    try:
        found = AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True)
    except AuthenticationError:
        print("unreadable-token")
        sys.exit(0)
    if not found:  # Ray would abort the process on connecting
        print("no-token")
        sys.exit(0)
try:
    GcsClient(address=sys.argv[1])
except AuthenticationError:
    print("refused-token" if token_mode else "needs-token")
except Exception as e:
    lines = str(e).strip().splitlines()
    print("error", lines[0] if lines else type(e).__name__)
else:
    print("ok")
"""

_TOKEN_HELP = (
    "RAY_AUTH_TOKEN=<token>, or RAY_AUTH_TOKEN_PATH=<file> (default ~/.ray/auth_token); "
    "`ray get-auth-token` on the head prints it"
)


def check_token_auth(address: str) -> None:
    """Refuse, in one line naming the fix, an address whose Ray cluster would not let this
    process in because of token authentication (see the module docstring).

    `address` is HOST:PORT, already known to accept TCP connections. An answer the probe does
    not recognise (the child died, say) refuses nothing: `ray.init` then says what it says.

    Raises:
        RayUnavailable: the cluster requires a token and none is sent (RAY_AUTH_MODE is not
            token), the token sent is refused, RAY_AUTH_MODE=token without a token, or no Ray
            GCS answered within `PROBE_TIMEOUT_S`.
    """
    if address in _ADMITTED:
        return
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, address],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise RayUnavailable(
            f"--address {address}: something listens there, but no Ray cluster answered within "
            f"{PROBE_TIMEOUT_S:.0f} s; give the head's GCS address (the --port of `ray start --head`, 6379 by "
            "default), or retry once the head is up"
        ) from None
    lines = done.stdout.strip().splitlines()
    status = (lines[-1] if lines else "").partition(" ")[0]
    message = _refusal(address, status)
    if message is not None:
        raise RayUnavailable(message)
    if status == "ok":
        _ADMITTED.add(address)


def _refusal(address: str, status: str) -> str | None:
    """The one-line error for the probe's `status`, or None to let `ray.init` go ahead."""
    where = f"--address {address}"
    if status == "needs-token":
        return (
            f"{where}: the Ray cluster there requires token authentication and this process sends no token; "
            f"set RAY_AUTH_MODE=token and the cluster's token before `nas search`: {_TOKEN_HELP}"
        )
    if status == "refused-token":
        return (
            f"{where}: the Ray cluster there refused the token from {_token_source()}; "
            f"give the cluster's token: {_TOKEN_HELP}"
        )
    if status == "no-token":
        return (
            f"{where}: RAY_AUTH_MODE=token but no token was found (RAY_AUTH_TOKEN is unset and "
            f"{_token_file()} does not exist); give the cluster's token: {_TOKEN_HELP}"
        )
    if status == "unreadable-token":
        return (
            f"{where}: RAY_AUTH_TOKEN_PATH={os.environ.get('RAY_AUTH_TOKEN_PATH', '')} cannot be read or is "
            "empty; point it at a file holding the cluster's token, or set RAY_AUTH_TOKEN=<token>"
        )
    return None  # "ok"; or "error", which `ray.init` retries and reports itself (a head still starting)


def _token_file() -> str:
    return os.environ.get("RAY_AUTH_TOKEN_PATH") or DEFAULT_TOKEN_FILE


def _token_source() -> str:
    """Where Ray took the token it sent (never the token itself)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    if os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return f"RAY_AUTH_TOKEN_PATH={os.environ['RAY_AUTH_TOKEN_PATH']}"
    return DEFAULT_TOKEN_FILE
