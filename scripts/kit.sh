#!/usr/bin/env bash
# Thin glue for `make deploy|plan|destroy|rollback ENV=... WEB=...`: the workflows are Python
# (scripts/kit/, the `soc2kit` command, tested in tests/deploy/). Usage: scripts/kit.sh ACTION ENV [WEB]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/require-venv.sh"
action="${1:?usage: scripts/kit.sh ACTION ENV [WEB]}" env="${2:-local}" web="${3:-}"
# The pipeline's total counts from here, so a set-up done before Python can start is timed too.
export SOC2KIT_STARTED_AT="${SOC2KIT_STARTED_AT:-$(date +%s.%N)}"
# ENV=local sets itself up on a fresh machine; the AWS environments need `make setup` first.
if [ ! -x "$KIT_BIN/soc2kit" ] && [ "$action" = deploy ] && [ "$env" = local ]; then
  "$KIT_ROOT/scripts/bootstrap.sh"
fi
require_venv kit soc2kit
# Appended: the make targets already put the venv first; a caller's own PATH keeps precedence.
export PATH="$PATH:$KIT_BIN"
cd "$KIT_ROOT"
exec "$KIT_BIN/soc2kit" "$action" "$env" "$web"
