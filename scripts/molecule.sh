#!/usr/bin/env bash
# Runs every molecule scenario with the full sequence (destroy, syntax, create, converge,
# idempotence, verify, destroy), after the fast role-argument tests. Stops at the first failure with a
# non-zero exit; the scenario's containers and network are removed even when a step fails.
# SCENARIOS="default" limits the run; MOLECULE_ARGS are passed to `molecule test`; ROLE_ARGS=0 leaves out the
# role-argument tests (scripts/test-stacks.sh runs them once, before its stacks).
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF="$PWD/molecule/containers.conf"
export ANSIBLE_CONFIG="$PWD/ansible/ansible.cfg"
IMAGE="${TEST_IMAGE:-localhost/soc2kit-debian12:latest}"
SCENARIOS="${SCENARIOS:-default apache}"

die() { echo "molecule.sh: ERROR: $*" >&2; exit 1; }
source "$(dirname "${BASH_SOURCE[0]}")/require-venv.sh"
require_venv molecule.sh molecule pytest ansible-playbook
export PATH="$KIT_BIN:$PATH"
command -v podman >/dev/null || die "podman not found; run 'make setup' (Debian package podman)"
podman image exists "$IMAGE" || die "test image $IMAGE missing; run 'make image'"

current=""
cleanup() {
  local rc=$?
  if [ -n "$current" ]; then
    echo "molecule.sh: removing the containers of scenario '$current' after a failure" >&2
    molecule destroy -s "$current" >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap cleanup EXIT INT TERM

start=$SECONDS
if [ "${ROLE_ARGS:-1}" != 0 ]; then
  echo "molecule.sh: role argument checks (bad values rejected before any change)"
  pytest -q -p no:cacheprovider molecule/tests/test_role_arguments.py
fi

for scenario in $SCENARIOS; do
  [ -f "molecule/$scenario/molecule.yml" ] || die "no scenario molecule/$scenario"
  current="$scenario"
  t0=$SECONDS
  echo "molecule.sh: scenario '$scenario'"
  molecule test -s "$scenario" ${MOLECULE_ARGS:-} \
    || die "scenario '$scenario' failed (see the step above); its containers were destroyed"
  current=""
  echo "molecule.sh: scenario '$scenario' passed in $((SECONDS - t0)) s"
done
echo "molecule.sh: all scenarios passed in $((SECONDS - start)) s"
