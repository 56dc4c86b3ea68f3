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
echo "test-kit: pytest"
"$KIT_BIN/pytest" -q "${suites[@]}" "$@"
