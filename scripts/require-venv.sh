# shellcheck shell=bash
# Sourced by every script that runs a tool from .venv: the one check for "`.venv` missing: run make setup".
#   source "$(dirname "${BASH_SOURCE[0]}")/require-venv.sh"
#   require_venv CALLER TOOL...   # exits 2 naming the first missing .venv/bin/TOOL and the fix
# Sets KIT_ROOT (the checkout) and KIT_BIN (its .venv/bin).
KIT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIT_BIN="$KIT_ROOT/.venv/bin"
# .venv's editable install of the tooling points at one checkout; a script run from another checkout (a git
# worktree sharing the venv) runs that checkout's own scripts/kit, and so do the Pulumi and Ansible it starts.
export PYTHONPATH="$KIT_ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}"

require_venv() {
  local caller="$1" tool
  shift
  for tool in "$@"; do
    if [ ! -x "$KIT_BIN/$tool" ]; then
      echo "$caller: ERROR: $KIT_BIN/$tool is missing (.venv absent or out of date); run 'make setup'" >&2
      exit 2
    fi
  done
}
