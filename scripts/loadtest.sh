#!/usr/bin/env bash
# Thin glue for `make loadtest ENV=local WEB=...`: the workflow is Python (scripts/kit/loadtest.py).
# Usage: scripts/loadtest.sh ENV [WEB]; settings in LOADTEST_* variables (see scripts/kit/loadtest.py).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -x "$ROOT/.venv/bin/locust" ]; then
  echo "ERROR: $ROOT/.venv/bin/locust is missing; run 'make setup' first" >&2
  exit 2
fi
export PATH="$ROOT/.venv/bin:$PATH"
cd "$ROOT"
exec env PYTHONPATH="$ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}" "$ROOT/.venv/bin/python" -m kit.loadtest "${1:-local}" "${2:-nginx}"
