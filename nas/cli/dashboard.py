"""`nas dashboard`: optuna-dashboard on a search database, on this machine only.

The database holds Optuna's tables beside ours, so optuna-dashboard shows every search's study
as it is: objectives by name, each trial's architecture, cost and fidelity as user attributes,
the learning curves as intermediate values (nas/search/trial_attrs.py). It is an optional extra,
`pip install 'nas[dashboard]'`. It binds to a loopback address only: optuna-dashboard can also
change a study (tell trials, write notes) and has no authentication.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from typing import Any

from nas.cli._commands import add_db_option

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
INSTALL_HINT = "pip install 'nas[dashboard]'"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "dashboard",
        help="browse the searches in optuna-dashboard (needs nas[dashboard])",
        description="Serve optuna-dashboard for a search database on this machine; Ctrl-C stops it. "
        f"Needs the optional extra: {INSTALL_HINT}.",
    )
    p.set_defaults(run=run)
    add_db_option(p)
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to listen on; 0 picks a free one (default: {DEFAULT_PORT})",
    )
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"loopback address to bind, 127.0.0.1, ::1 or localhost; reach it from elsewhere through an SSH "
        f"tunnel (default: {DEFAULT_HOST})",
    )


def check_host(host: str) -> str:
    """`host` if it is a loopback address; ValueError (one line, with the safe way) otherwise."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"--host {host!r}: nas dashboard listens on this machine only (127.0.0.1, ::1 or localhost), since "
            "optuna-dashboard has no login and can change a study; from another machine use an SSH tunnel, "
            f"e.g. ssh -L {DEFAULT_PORT}:127.0.0.1:{DEFAULT_PORT} THIS_HOST"
        )
    return host


def run(args: argparse.Namespace) -> int:
    try:
        import optuna_dashboard  # noqa: F401 - the optional extra
    except ImportError:
        print(
            f"nas: error: nas dashboard needs optuna-dashboard, which is not installed: {INSTALL_HINT}", file=sys.stderr
        )
        return 2
    host = check_host(args.host)
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port}: use 1-65535, or 0 for a free port")

    import db

    store = db.connect(args.db, read_only=True)  # refuses a missing file: nothing is created
    names = [s.name for s in store.list_searches()]
    if not names:
        raise ValueError(f"{store.display_url} holds no searches yet; run `nas search` first")
    storage = db.optuna_storage(db.connect(args.db))  # the store's engine: its SQLite timeouts and WAL
    import warnings

    # e.g. parameter importance on a few trials warns on every page load; the page shows it all
    warnings.filterwarnings("ignore", module="optuna")
    server = _server(storage, host, args.port)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{server.server_port}/dashboard"
    print(
        f"nas dashboard: {len(names)} search(es) of {store.display_url} at {url} (Ctrl-C stops it)",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("nas dashboard: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0


def _server(storage: Any, host: str, port: int) -> Any:
    """optuna-dashboard's WSGI app on a threaded wsgiref server that does not log every request."""
    import errno
    import socket
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from optuna_dashboard import wsgi

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    try:
        return make_server(host, port, wsgi(storage), server_class=Server, handler_class=QuietHandler)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise ValueError(f"--port {port} is in use on {host}; pick another, or --port 0 for a free one") from None
        raise ValueError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
