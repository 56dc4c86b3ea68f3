#!/usr/bin/env bash
# Lint everything: Python with ruff, YAML with yamllint, Ansible with ansible-lint (production profile).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
for tool in ruff yamllint ansible-lint; do
  command -v "$tool" >/dev/null || { echo "lint: ERROR: $tool not found in .venv; run 'make setup'" >&2; exit 1; }
done
echo "lint: ruff"
ruff check .
ruff format --check .
echo "lint: role docs (spec defaults = defaults/main.yml, README tables generated)"
PYTHONPATH=scripts python -m kit.role_docs --check
echo "lint: CONTROLS.md generated from scripts/kit/verify/ (make controls)"
PYTHONPATH=scripts python -m kit.verify.controls_doc --check
echo "lint: yamllint"
yamllint -s .
if compgen -G "roles/*/tasks/*.yml" >/dev/null || compgen -G "ansible/*.yml" >/dev/null; then
  echo "lint: ansible-lint (production profile)"
  ansible-lint --profile production
fi
