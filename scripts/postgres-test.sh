#!/usr/bin/env bash
# Run the db contract suite against a throwaway local PostgreSQL as well as SQLite.
#
#   scripts/postgres-test.sh [extra pytest args]
#
# Installs PostgreSQL (apt, when missing and running as root) and psycopg 3 (pip, when missing),
# initialises a cluster in a temporary directory, starts it on 127.0.0.1 only (a free port, a
# Unix socket inside the temp dir), creates a database with a password-protected user, runs
# `pytest tests/db` with NAS_TEST_DB_URL pointing at it, then stops the server and deletes
# everything. Nothing touches a system cluster. Environment:
#   PYTHON   the interpreter with the project's dependencies (default: .venv/bin/python,
#            else python3)
#   PG_BIN   directory holding initdb/pg_ctl (default: newest /usr/lib/postgresql/*/bin)
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -z "${PG_BIN:-}" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "postgres-test: PostgreSQL is not installed; run: sudo apt-get install -y postgresql" >&2
        exit 1
    fi
    echo "postgres-test: installing PostgreSQL (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}"

if ! "$PYTHON" -c "import psycopg" 2>/dev/null; then
    echo "postgres-test: installing psycopg[binary] (pip)"
    "$PYTHON" -m pip install -q "psycopg[binary]"
fi

# initdb refuses to run as root: run the server as the 'postgres' user the package created.
if [ "$(id -u)" -eq 0 ]; then
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

WORK="$(mktemp -d /tmp/nas-pg.XXXXXX)"
chmod 755 "$WORK"
if [ "$(id -u)" -eq 0 ]; then chown postgres "$WORK"; fi
PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
PASSWORD="nas-test-$RANDOM$RANDOM"

cleanup() {
    as_pg "$PG_BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "$PASSWORD" > "$WORK/pw"
if [ "$(id -u)" -eq 0 ]; then chown postgres "$WORK/pw"; fi
as_pg "$PG_BIN/initdb" -D "$WORK/data" -U nas --pwfile="$WORK/pw" --auth=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; exit 1; }
as_pg "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $WORK -c fsync=off" start >/dev/null \
    || { cat "$WORK/server.log" >&2; exit 1; }
as_pg env PGPASSWORD="$PASSWORD" \
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$PORT" -U nas nas_test

export NAS_TEST_DB_URL="postgresql+psycopg://nas:$PASSWORD@127.0.0.1:$PORT/nas_test"
echo "postgres-test: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT"
"$PYTHON" -m pytest tests/db -q "$@"
