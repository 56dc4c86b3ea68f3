#!/usr/bin/env bash
# Field-encryption benchmark (make bench): ours vs plain columns vs django-fernet-encrypted-fields on the
# same rows, against the throw-away PostgreSQL. Prints a table and writes bench/results.json.
# Extra arguments go to app/bench/run.py (--records N, --rounds N).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
source "$(dirname "${BASH_SOURCE[0]}")/require-venv.sh"
require_venv bench python
"$KIT_BIN/python" -c 'import encrypted_fields' 2>/dev/null \
  || { echo "bench: ERROR: django-fernet-encrypted-fields is not installed in .venv; run 'make setup'" >&2; exit 1; }

# Leave a cluster that someone else started running; stop only the one started here.
start_output="$(scripts/test-postgres.sh start)"
echo "$start_output"
case "$start_output" in
  *"already running"*) ;;
  *) trap '"$ROOT/scripts/test-postgres.sh" stop' EXIT ;;
esac
# shellcheck disable=SC1091
source ".cache/test-postgres-${TEST_PG_PORT:-55432}.env"
export PYTHONPATH="$ROOT/packages/soc2kit/src${PYTHONPATH:+:$PYTHONPATH}"  # the soc2kit package (source tree)
cd app
DJANGO_SETTINGS_MODULE=bench.settings "$KIT_BIN/python" -m bench.run "$@"
