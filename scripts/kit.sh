#!/usr/bin/env bash
# Thin glue for `make deploy|plan|destroy|rollback ENV=... WEB=...`: the workflows are Python
# (scripts/kit/, tested in tests/deploy/). Usage: scripts/kit.sh ACTION ENV [WEB]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
action="${1:?usage: scripts/kit.sh ACTION ENV [WEB]}" env="${2:-local}" web="${3:-}"
# The pipeline's total counts from here, so a set-up done before Python can start is timed too.
export SOC2KIT_STARTED_AT="${SOC2KIT_STARTED_AT:-$(date +%s.%N)}"
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  # ENV=local sets itself up on a fresh machine; the AWS environments need `make setup` first.
  if [ "$action" = deploy ] && [ "$env" = local ]; then
    "$ROOT/scripts/bootstrap.sh"
  else
    echo "ERROR: $ROOT/.venv is missing; run 'make setup' first (ENV is one of: local dev staging prod)" >&2
    exit 2
  fi
fi
# Appended: the make targets already put .venv/bin first; a caller's own PATH keeps precedence.
export PATH="$PATH:$ROOT/.venv/bin"
cd "$ROOT"
exec env PYTHONPATH="$ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}" "$ROOT/.venv/bin/python" -m kit "$action" "$env" "$web"
