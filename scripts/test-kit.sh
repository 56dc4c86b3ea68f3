#!/usr/bin/env bash
# Tests of the kit's own tooling under tests/ (deploy, verify, the log shipper, the postgresql role's rds mode
# against a throw-away PostgreSQL on 127.0.0.1, load-test checks): no network beyond loopback, no containers.
set -euo pipefail
cd "$(dirname "$0")/.."
source "$(dirname "${BASH_SOURCE[0]}")/require-venv.sh"
require_venv test-kit pytest mypy
suites=(tests/deploy tests/docs tests/package tests/verify tests/evidence tests/log_shipping tests/postgresql_rds loadtest/tests)
for suite in "${suites[@]}"; do
  [ -d "$suite" ] || { echo "test-kit: ERROR: test folder $suite is missing (restore it from git)" >&2; exit 1; }
done
echo "test-kit: mypy (scripts/kit, settings in pyproject.toml)"
"$KIT_BIN/mypy"
# The rds-mode tests (a PostgreSQL cluster and ansible-playbook, about 3 minutes) run in a second pytest
# process beside the rest, so both cores work. Not under pytest-xdist: its worker's cluster refused every
# connection there ("server closed the connection unexpectedly"), while two plain processes pass.
rds_suite=tests/postgresql_rds
rest=()
for suite in "${suites[@]}"; do [ "$suite" = "$rds_suite" ] || rest+=("$suite"); done
mkdir -p .cache/logs
rds_log=".cache/logs/$(date -u +%Y%m%dT%H%M%SZ)-test-kit-rds.log"
echo "test-kit: pytest $rds_suite in the background (output: $rds_log)"
"$KIT_BIN/pytest" -q "$rds_suite" "$@" > "$rds_log" 2>&1 &
rds_pid=$!
trap 'kill "$rds_pid" 2>/dev/null || true' EXIT
echo "test-kit: pytest ${rest[*]}"
rest_rc=0
"$KIT_BIN/pytest" -q "${rest[@]}" "$@" || rest_rc=$?
rds_rc=0
wait "$rds_pid" || rds_rc=$?
trap - EXIT
echo "test-kit: $rds_suite: $(tail -1 "$rds_log")"
if [ "$rds_rc" -ne 0 ]; then
  tail -n 150 "$rds_log"
  echo "test-kit: ERROR: $rds_suite failed (exit $rds_rc); its whole output: $rds_log" >&2
fi
[ "$rest_rc" -eq 0 ] && [ "$rds_rc" -eq 0 ]
