#!/usr/bin/env bash
# Thin glue for `make loadtest ENV=local WEB=...`: the workflow is Python (scripts/kit/loadtest.py).
# Usage: scripts/loadtest.sh ENV [WEB]; settings in LOADTEST_* variables (see scripts/kit/loadtest.py).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$(dirname "${BASH_SOURCE[0]}")/require-venv.sh"
require_venv loadtest locust soc2kit-loadtest
export PATH="$KIT_BIN:$PATH"
cd "$ROOT"
exec "$KIT_BIN/soc2kit-loadtest" "${1:-local}" "${2:-nginx}"
