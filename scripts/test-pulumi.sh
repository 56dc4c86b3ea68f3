#!/usr/bin/env bash
# Pulumi checks without the Pulumi CLI or AWS (neither is reachable here):
#   1. mypy, strict, over the program and its tests against pulumi / pulumi-aws's type hints;
#   2. mypy over the policy pack (a second run: two __main__ modules cannot share one);
#   3. pytest: the real program under pulumi.runtime.set_mocks, config validation, policy rules.
# Any failure, any skipped test or a missing tool ends the script non-zero.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

source "$(dirname "${BASH_SOURCE[0]}")/require-venv.sh"
require_venv test-pulumi python mypy
"$KIT_BIN/python" -c 'import pulumi, pulumi_aws, pulumi_random, pulumi_policy, pytest, yaml' || {
  echo "test-pulumi: ERROR: pulumi, pulumi-aws, pulumi-random, pulumi-policy, pytest or PyYAML missing from .venv; run 'make setup'" >&2
  exit 1
}

cd "$ROOT/pulumi"
started=$SECONDS
echo "test-pulumi: mypy (program, components, tests)"
"$KIT_BIN/mypy"
echo "test-pulumi: mypy (policy pack)"
"$KIT_BIN/mypy" policy/__main__.py policy/soc2_rules.py policy/tests/test_policy_rules.py
echo "test-pulumi: pytest (program under mocks, config validation, policy rules)"
"$KIT_BIN/python" -m pytest
echo "test-pulumi: all passed in $((SECONDS - started)) s"
