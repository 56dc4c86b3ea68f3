#!/usr/bin/env bash
# Lint everything: Python with ruff, YAML with yamllint, Ansible with ansible-lint (production profile).
set -euo pipefail
cd "$(dirname "$0")/.."
source "$(dirname "${BASH_SOURCE[0]}")/require-venv.sh"
require_venv lint ruff yamllint ansible-lint soc2kit-role-docs soc2kit-controls-doc
export PATH="$KIT_BIN:$PATH"
echo "lint: ruff"
ruff check .
ruff format --check .
echo "lint: role docs (spec defaults = defaults/main.yml, README tables generated)"
soc2kit-role-docs --check
echo "lint: CONTROLS.md generated from scripts/kit/verify/ (make controls)"
soc2kit-controls-doc --check
echo "lint: yamllint"
yamllint -s .
if compgen -G "roles/*/tasks/*.yml" >/dev/null || compgen -G "ansible/*.yml" >/dev/null; then
  echo "lint: ansible-lint (production profile)"
  ansible-lint --profile production
fi
