#!/usr/bin/env bash
# Tests of the kit's own tooling under tests/ (deploy, verify, the log shipper, the postgresql role's rds mode
# against a throw-away PostgreSQL on 127.0.0.1, load-test checks): no network beyond loopback, no containers.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pytest ] || { echo "test-kit: ERROR: .venv missing; run 'make setup'" >&2; exit 1; }
suites=(tests/deploy tests/docs tests/package tests/verify tests/evidence tests/log_shipping tests/postgresql_rds loadtest/tests)
for suite in "${suites[@]}"; do
  [ -d "$suite" ] || { echo "test-kit: ERROR: test folder $suite is missing (restore it from git)" >&2; exit 1; }
done
.venv/bin/pytest -q "${suites[@]}" "$@"
