#!/usr/bin/env bash
# `make test`'s live-container stage: the role-argument checks, then two whole stacks side by side:
#   - the default molecule scenario (ENV=local's path, nginx): destroy, create, converge, idempotence,
#     verify (disruptive tests included), destroy;
#   - the rehearsal (ENV=prod's AWS path, Apache, two app hosts behind HAProxy): deploy, idempotence,
#     `make verify ENV=rehearsal`, the Apache checks that change the stack, the rolling test under load.
# Run alone, each leaves a core about half idle (podman, apt, pip); side by side on 2 cores both are
# CPU-bound (load 8, 3 % idle measured), so the pair saves little over the two in a row. Their full output
# goes to one log each; the screen shows each one's step lines. The first failure stops the other stack (its containers are removed too), prints
# the end of the failed log and the log's path, and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
source "$(dirname "${BASH_SOURCE[0]}")/require-venv.sh"
require_venv test-stacks pytest molecule ansible-playbook soc2kit
export PATH="$KIT_BIN:$PATH"
export CONTAINERS_CONF="$PWD/molecule/containers.conf"

die() { echo "test-stacks: ERROR: $*" >&2; exit 1; }
command -v podman >/dev/null || die "podman not found; run 'make setup' (Debian package podman)"

start=$SECONDS
echo "test-stacks: role argument checks (bad values rejected before any change)"
# Two workers: each case is its own ansible-playbook run, independent of the others.
pytest -q -p no:cacheprovider -n 2 molecule/tests/test_role_arguments.py

LOG_DIR="$PWD/.cache/logs"
mkdir -p "$LOG_DIR"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
# What each stack prints on screen (all of it is in its log): its own step lines, molecule's step
# headers, Ansible's recap and pytest's summaries.
SHOWN='^(molecule\.sh|rehearsal-test\.sh|==>|site\.yml|preflight|verify)|➜|PLAY RECAP|changed=|under load:|migrations ran on|after make rollback|[0-9]+ (passed|failed|error)|FAILED|ERROR|^E  '

declare -A pids logs
launch() {
  local name="$1"
  shift
  logs[$name]="$LOG_DIR/$stamp-test-$name.log"
  # Own process group (set -m), so a failure elsewhere can stop the whole stack, and its cleanup runs.
  set -m
  ( "$@" > "${logs[$name]}" 2>&1 ) &
  pids[$name]=$!
  set +m
  echo "test-stacks: $name started; its output: ${logs[$name]}"
}
launch default env ROLE_ARGS=0 SCENARIOS=default scripts/molecule.sh
launch rehearsal scripts/rehearsal-test.sh
# The screen view: both logs, filtered and prefixed, until both stacks end.
set -m # its own process group: ended below with all of its pipeline
(tail -q -n +1 -F "${logs[default]}" "${logs[rehearsal]}" 2>/dev/null \
  | stdbuf -oL grep -aE "$SHOWN" | stdbuf -oL sed -e 's/\x1b\[[0-9;]*m//g') &
viewer=$!
set +m

stop_all() {
  for name in "${!pids[@]}"; do
    kill -TERM -- "-${pids[$name]}" 2>/dev/null || true
  done
}
trap 'stop_all; kill -TERM -- "-$viewer" 2>/dev/null; exit 130' INT TERM

declare -A names
for name in "${!pids[@]}"; do names[${pids[$name]}]=$name; done
failed=""
running=("${pids[@]}")
while [ "${#running[@]}" -gt 0 ]; do
  rc=0
  wait -n -p ended "${running[@]}" || rc=$?
  name="${names[$ended]}"
  running=($(printf '%s\n' "${running[@]}" | grep -vx "$ended" || true))
  echo "test-stacks: $name ended with exit code $rc after $((SECONDS - start)) s"
  if [ "$rc" -ne 0 ] && [ -z "$failed" ]; then
    failed="$name"
    sleep 2 # the viewer prints the failing lines first
    for other in "${!pids[@]}"; do
      [ "$other" = "$name" ] && continue
      echo "test-stacks: stopping $other, because $name failed (its trap removes its containers)"
      kill -TERM -- "-${pids[$other]}" 2>/dev/null || true
    done
  fi
done
sleep 1 # the last lines reach the screen
kill -TERM -- "-$viewer" 2>/dev/null || true
wait "$viewer" 2>/dev/null || true

if [ -n "$failed" ]; then
  echo "test-stacks: ---- the last 150 lines of ${logs[$failed]} ----" >&2
  tail -n 150 "${logs[$failed]}" | sed -e 's/\x1b\[[0-9;]*m//g' >&2
  die "the $failed stack failed (its full output: ${logs[$failed]})"
fi
echo "test-stacks: both stacks passed in $((SECONDS - start)) s (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
