#!/usr/bin/env bash
# `make faulttest ENV=local WEB=...`: the fault tests (tests/fault/) against the running local stack.
# Each test breaks one thing on the containers and restores it. Output, JUnit XML and the figures
# (figures.json) land in evidence/<ENV>/faulttest-<UTC time>-<web>/.
# FAULTTEST_ARGS adds pytest arguments, e.g. FAULTTEST_ARGS="-m quick" or FAULTTEST_ARGS="-k sigkill".
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
env="${1:-local}" web="${2:-nginx}"
if [ "$env" != local ]; then
  echo "ERROR: make faulttest supports ENV=local only (got ENV=$env): fault tests break things, so they run on the local containers" >&2
  exit 2
fi
case "$web" in
  nginx | apache) ;;
  *) echo "ERROR: unknown WEB=$web; choose nginx or apache" >&2; exit 2 ;;
esac
source "$(dirname "${BASH_SOURCE[0]}")/require-venv.sh"
require_venv faulttest python
evidence="$ROOT/evidence/$env/faulttest-$(date -u +%Y%m%dT%H%M%SZ)-$web"
mkdir -p "$evidence"
cd "$ROOT"
export SOC2KIT_WEB="$web" FAULTTEST_EVIDENCE_DIR="$evidence"
set +e  # keep the status of pytest, not of tee
# shellcheck disable=SC2086  # FAULTTEST_ARGS is a list of pytest arguments
"$KIT_BIN/python" -m pytest tests/fault -v -p no:cacheprovider --durations=0 \
  --junitxml="$evidence/junit.xml" ${FAULTTEST_ARGS:-} 2>&1 | tee "$evidence/pytest.log"
status=${PIPESTATUS[0]}
set -e
echo "fault test output, JUnit XML and figures: $evidence"
exit "$status"
