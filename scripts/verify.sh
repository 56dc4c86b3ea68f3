#!/usr/bin/env bash
# Thin glue for `make verify ENV=... [WEB=...] [CHECKS=id,id]`: the checks are Python (scripts/kit/verify/,
# tested in tests/verify/). Usage: scripts/verify.sh ENV [WEB]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
env="${1:-local}" web="${2:-}"
source "$(dirname "${BASH_SOURCE[0]}")/require-venv.sh"
require_venv verify soc2kit-verify
export PATH="$PATH:$KIT_BIN"
cd "$ROOT"
exec "$KIT_BIN/soc2kit-verify" "$env" "$web"
