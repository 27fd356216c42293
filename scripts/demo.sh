#!/usr/bin/env bash
# README command 1: set up, then run the whole pipeline on embedded defaults (no server needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/genesis demo "$@"
