#!/usr/bin/env bash
# Set up (scripts/setup.sh), check lint, format and types (ruff, mypy: any finding fails the
# run), run the whole test suite, then the database contract suite against a real local
# PostgreSQL server as well (scripts/postgres-test.sh), where this machine can install one.
#
#   bash scripts/test.sh [pytest args]
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1

echo "test: ruff check, ruff format --check, mypy (strict on the torch-free packages)" >&2
.venv/bin/ruff check . || { echo "test: ruff check failed (run .venv/bin/ruff check --fix .)" >&2; exit 1; }
.venv/bin/ruff format --check . || { echo "test: files need formatting (run .venv/bin/ruff format .)" >&2; exit 1; }
.venv/bin/mypy || { echo "test: mypy failed" >&2; exit 1; }

.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "test: pytest collected no tests; that is a failure here" >&2
    exit 1
fi
[ "$rc" -eq 0 ] || exit "$rc"

if [ "$(id -u)" = 0 ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    PYTHON=.venv/bin/python bash scripts/postgres-test.sh -p no:cacheprovider || exit $?
else
    echo "test: skipped the PostgreSQL suite (needs root to apt-get install postgresql, or PostgreSQL installed)" >&2
fi
