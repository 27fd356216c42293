#!/usr/bin/env bash
# The stack tier, from a fresh clone: set up (scripts/setup.sh, scripts/stack-setup.sh),
# then build the images with podman, bring up infra/compose/compose.yaml and run the
# nightly scenario in the containers (tests/stack/).  Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/stack-setup.sh
export PYTHONUTF8=1 LANG=C.UTF-8 LC_ALL=C.UTF-8
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
exec .venv/bin/python -m pytest -q -m stack tests/stack "$@"
