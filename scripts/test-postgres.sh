#!/usr/bin/env bash
# A throw-away PostgreSQL cluster on 127.0.0.1 for the app's tests (never the host's own cluster).
#   test-postgres.sh start   -> initdb if needed, start, write .cache/test-postgres-$PORT.env
#   test-postgres.sh stop    -> stop and delete the cluster
# The password is generated per cluster and lives only in .cache/test-postgres-$PORT.env (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${TEST_PG_PORT:-55432}"
DATA="${TEST_PG_DATA:-/tmp/soc2kit-test-pg-$PORT}"
ENV_FILE=".cache/test-postgres-$PORT.env"
die() { echo "test-postgres: ERROR: $*" >&2; exit 1; }

BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -n "$BIN" ] && [ -x "$BIN/initdb" ] || die "PostgreSQL server binaries not found; run scripts/bootstrap.sh (Debian package postgresql)"

run_pg() {  # initdb/postgres refuse to run as root
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
  mkdir -p .cache
  if run_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    [ -f "$ENV_FILE" ] || die "cluster at $DATA runs but $ENV_FILE is missing; run '$0 stop' first"
    echo "test-postgres: already running on 127.0.0.1:$PORT"; exit 0
  fi
  rm -rf "$DATA"; mkdir -p "$DATA"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$DATA"
  chmod 700 "$DATA"
  password="$(openssl rand -hex 24)"
  pwfile="$(mktemp)"; echo "$password" > "$pwfile"
  [ "$(id -u)" -eq 0 ] && chown postgres "$pwfile"
  run_pg "$BIN/initdb" -D "$DATA" -U kit_admin --pwfile="$pwfile" --auth=scram-sha-256 -E UTF8 >/dev/null
  rm -f "$pwfile"
  run_pg "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DATA -c fsync=off -c max_connections=200" start >/dev/null \
    || { cat "$DATA/server.log" >&2; die "PostgreSQL did not start"; }
  umask 077
  cat > "$ENV_FILE" <<ENV
export TEST_DATABASE_URL=postgres://kit_admin:$password@127.0.0.1:$PORT/kit_test
ENV
  echo "test-postgres: running on 127.0.0.1:$PORT (data in $DATA)"
  ;;
stop)
  run_pg "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$DATA" "$ENV_FILE"
  echo "test-postgres: stopped"
  ;;
*) die "usage: $0 start|stop" ;;
esac
