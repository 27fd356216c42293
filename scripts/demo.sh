#!/usr/bin/env bash
# README command 1: set up, then run the whole pipeline on embedded defaults (no server needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# UTF-8 whatever the machine's locale (CI runs with none): tables and docs carry ±, →, ×.
export PYTHONUTF8=1 LANG=C.UTF-8 LC_ALL=C.UTF-8
exec .venv/bin/genesis demo "$@"
