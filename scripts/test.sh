#!/usr/bin/env bash
# README command 2: set up, then lint and run the default test suite (CI runs exactly this).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m slow` for the slow tier
# (the stack tier has its own command: bash scripts/test-stack.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The integration tier runs PostgreSQL from Debian's server package (tests/servers/postgres.py);
# installed once, skipped when present. Elsewhere those tests fail naming the missing binary.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing PostgreSQL (Debian package postgresql) for the integration tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  else
    echo "note: PostgreSQL server binaries not found; the integration tests need them" >&2
  fi
fi
# UTF-8 whatever the machine's locale (CI runs with none): tables and docs carry ±, →, ×.
export PYTHONUTF8=1 LANG=C.UTF-8 LC_ALL=C.UTF-8
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
.venv/bin/ruff check .
.venv/bin/ruff format --check .
if [ "$#" -eq 0 ]; then set -- -m "not slow and not stack"; fi
exec .venv/bin/python -m pytest -q "$@"
