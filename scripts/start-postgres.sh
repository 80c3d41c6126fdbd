#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the test suite and print its SQLAlchemy URL.
#
#   url=$(bash scripts/start-postgres.sh)        # installs Debian's postgresql if missing
#   MYOTRIAL_TEST_POSTGRES_URL="$url" .venv/bin/pytest tests/test_db_*.py
#   bash scripts/start-postgres.sh stop          # stop it (and remove its files)
#
# Idempotent: a cluster already running in $MYOTRIAL_PG_DIR is reused. The cluster listens on a
# unix socket only (no TCP), with trust authentication, under /tmp: for tests, never for data.
# Run as root (CI) it runs the server as the 'postgres' user; otherwise as the calling user.
# Everything but the URL goes to stderr.
set -euo pipefail

PGDIR=${MYOTRIAL_PG_DIR:-/tmp/myotrial-pg}
PORT=${MYOTRIAL_PG_PORT:-55432}
DB=${MYOTRIAL_PG_DB:-myotrial_test}
DATA="$PGDIR/data"
SOCK="$PGDIR/socket"
LOG="$PGDIR/server.log"

# A throwaway test cluster need not survive a power cut: no fsync makes commits fast. (A killed
# client is still rolled back by the server; the crash-safety test kills the client.) Set
# MYOTRIAL_PG_DURABLE=1 for a cluster with the default, durable settings.
if [[ "${MYOTRIAL_PG_DURABLE:-0}" == "1" ]]; then
  SPEED=""
else
  SPEED="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi

log() { echo "start-postgres: $*" >&2; }

find_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [[ -n "$d" && -x "$d/pg_ctl" ]] && echo "$d"
}

BIN=$(find_bin || true)
if [[ -z "$BIN" ]]; then
  log "installing Debian's postgresql"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
  BIN=$(find_bin)
fi

if [[ $(id -u) -eq 0 ]]; then
  OWNER=postgres
  as_owner() { runuser -u postgres -- "$@"; }
else
  OWNER=$(id -un)
  as_owner() { "$@"; }
fi

if [[ "${1:-}" == "stop" ]]; then
  if [[ -d "$DATA" ]]; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m immediate stop >&2 || true
  fi
  rm -rf "$PGDIR"
  log "stopped"
  exit 0
fi

if ! as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  if [[ ! -f "$DATA/PG_VERSION" ]]; then
    rm -rf "$PGDIR"
    mkdir -p "$DATA" "$SOCK"
    chown -R "$OWNER" "$PGDIR"
    chmod 755 "$PGDIR" "$SOCK"
    as_owner "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --no-sync >/dev/null
  fi
  log "starting the server ($DATA, socket $SOCK, port $PORT)"
  as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
    -o "-c listen_addresses='' -k $SOCK -p $PORT $SPEED" start >&2
fi

if ! "$BIN/psql" -h "$SOCK" -p "$PORT" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
  "$BIN/createdb" -h "$SOCK" -p "$PORT" -U postgres "$DB"
fi

echo "postgresql+psycopg://postgres@/$DB?host=$SOCK&port=$PORT"
