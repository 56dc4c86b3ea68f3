#!/usr/bin/env bash
# Thin glue for `make verify ENV=... [WEB=...] [CHECKS=id,id]`: the checks are Python (scripts/kit/verify/,
# tested in tests/verify/). Usage: scripts/verify.sh ENV [WEB]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
env="${1:-local}" web="${2:-}"
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  echo "ERROR: $ROOT/.venv is missing; run 'make setup' first" >&2
  exit 2
fi
export PATH="$PATH:$ROOT/.venv/bin"
cd "$ROOT"
exec env PYTHONPATH="$ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}" "$ROOT/.venv/bin/python" -m kit.verify "$env" "$web"
