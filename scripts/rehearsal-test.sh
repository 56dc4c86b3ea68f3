#!/usr/bin/env bash
# `make rehearsal`: prod's AWS flow on local containers, WEB=apache by default (`make test` runs it through
# scripts/test-stacks.sh, in place of the apache molecule scenario). Leftover rh-* containers removed;
# `IDEMPOTENCE=1 LIVE_CHECKS=0 make deploy ENV=rehearsal` (site.yml twice, the second must report changed=0;
# the live checks run once, in make verify); the personal-data search and the AWS-mode checks
# (tests/rehearsal); `make verify ENV=rehearsal`, whose only "could not run" rows may be the checks that need
# the outside or an AWS API (exit 3); the release tests under load (tests/rehearsal/test_rolling.py);
# `make destroy ENV=rehearsal`. The rh-* containers are removed even when a step fails. Each step prints its
# wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
source "$(dirname "${BASH_SOURCE[0]}")/require-venv.sh"
require_venv rehearsal-test ansible-playbook pytest soc2kit
export PATH="$KIT_BIN:$PATH"
export CONTAINERS_CONF="$PWD/molecule/containers.conf"
IMAGE="${TEST_IMAGE:-localhost/soc2kit-debian12:latest}"
WEB="${WEB:-apache}"

die() { echo "rehearsal-test.sh: ERROR: $*" >&2; exit 1; }
# One rehearsal at a time on a machine: its containers, network and ports have fixed names.
LOCK=/tmp/soc2kit-rehearsal.lock
exec 9>"$LOCK"
flock -n 9 || { echo "rehearsal-test.sh: waiting for $LOCK (another rehearsal runs)" >&2; flock 9; }
for tool in podman runc; do
  command -v "$tool" >/dev/null || die "$tool not found; run 'make setup' (Debian packages podman, runc)"
done
podman image exists "$IMAGE" || die "test image $IMAGE missing; run 'make image'"
[ -f molecule/containers.conf ] || die "molecule/containers.conf missing (runc, low ulimits); restore it from git"
# HAProxy, PostgreSQL and pebble come from Debian's mirror inside the containers: the deploy's first stage
# fails there, naming the package, when the mirror cannot be reached.

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  echo "rehearsal-test.sh: removing the rh-* containers and their network" >&2
  if ! make -s destroy ENV=rehearsal >/dev/null 2>&1; then
    echo "rehearsal-test.sh: ERROR: rh-* containers are left; remove them with 'make destroy ENV=rehearsal'" >&2
    rc=1
  fi
  exit "$rc"
}
trap cleanup EXIT INT TERM

start=$SECONDS
step() {
  local name="$1" t0=$SECONDS
  shift
  echo "rehearsal-test.sh: $name"
  "$@" || die "step '$name' failed (see above); the containers are removed"
  echo "rehearsal-test.sh: $name: done in $((SECONDS - t0)) s"
}

verify() {
  local rc=0
  # What `make verify ENV=rehearsal` runs, called directly: make turns every failed recipe into exit 2.
  scripts/verify.sh rehearsal "" || rc=$?
  # 3: no control failed, some could not run; which ones is checked against the offline list.
  [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || return "$rc"
  python -c 'import sys; from kit import rehearsal; sys.exit(rehearsal.verify_report_status())'
}

step "leftovers removed" make destroy ENV=rehearsal
# The first deploy goes to both hosts at once (DEPLOY_SERIAL=100%): fresh hosts serve nothing yet, and in
# batches of one host it takes twice as long. The rolling test below rolls releases out in batches.
# LIVE_CHECKS=0: make verify below runs the same live checks (its testinfra row); once is enough.
step "deploy and idempotence (WEB=$WEB)" \
  env IDEMPOTENCE=1 DEPLOY_SERIAL=100% LIVE_CHECKS=0 make deploy ENV=rehearsal WEB="$WEB"
# Before make verify: the canary session logs in, so the audit chain has entries for verify to check (on an
# unused stack it reports "could not run").
# LIVE_CHECKS=0 here too: no live check has used up Apache's login allowance, so the session need not wait.
# Then the AWS modes: secrets from Secrets Manager on no disk or log, each log line in its CloudWatch group.
step "personal data in no log; secrets and logs in the AWS modes" \
  env LIVE_CHECKS=0 pytest -q -s -p no:cacheprovider tests/rehearsal/test_disruptive_checks.py \
  tests/rehearsal/test_aws_mode.py
step "make verify ENV=rehearsal" verify
step "rolling releases, rollback and a stopped host under load" \
  pytest -q -s -p no:cacheprovider tests/rehearsal/test_rolling.py
echo "rehearsal-test.sh: passed in $((SECONDS - start)) s (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
