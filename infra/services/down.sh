#!/usr/bin/env bash
# Stop the Kafka broker started by up.sh. Idempotent.
#
#   npm run services:down              stop Kafka (PostgreSQL and Redis are left alone)
#   bash infra/services/down.sh --wipe  also delete the Kafka data dir (fresh cluster next time)
#   bash infra/services/down.sh --all   also stop local Redis and PostgreSQL
set -euo pipefail

# shellcheck source=infra/services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL=0 WIPE=0
for arg in "$@"; do
  case "$arg" in
    --all) ALL=1 ;;
    --wipe) WIPE=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument: $arg (try --help)" ;;
  esac
done

mkdir -p "$SERVICES_HOME"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$SERVICES_HOME/.lock"
  flock -w 600 9 || die "timed out waiting for another services:up/down to finish ($SERVICES_HOME/.lock)"
fi

# Our broker without a pid file (deleted by hand): find the java whose command
# line names our generated server.properties. Never matches other brokers.
find_kafka_by_config() {
  [[ -d /proc ]] || return 1
  local f pid
  for f in /proc/[0-9]*/cmdline; do
    pid="${f#/proc/}"; pid="${pid%/cmdline}"
    if tr '\0' '\n' <"$f" 2>/dev/null | grep -qxF "$KAFKA_CONFIG" &&
       tr '\0' '\n' <"$f" 2>/dev/null | grep -qx 'kafka\.Kafka'; then
      echo "$pid"; return 0
    fi
  done
  return 1
}

stop_kafka() {
  local pid=""
  pid="$(kafka_running_pid)" || pid="$(find_kafka_by_config)" || pid=""
  if [[ -z "$pid" ]]; then
    rm -f "$KAFKA_PID_FILE"
    if tcp_open "$KAFKA_HOST" "$KAFKA_PORT"; then
      say kafka "not started by up.sh; something else answers on $KAFKA_HOST:$KAFKA_PORT, left alone"
    else
      say kafka "not running"
    fi
    return 0
  fi
  local t0=$SECONDS
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && ((SECONDS - t0 < KAFKA_STOP_TIMEOUT)); do
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
    say kafka "killed (pid $pid) after ${KAFKA_STOP_TIMEOUT}s without a clean shutdown"
  else
    say kafka "stopped (pid $pid) in $((SECONDS - t0))s"
  fi
  rm -f "$KAFKA_PID_FILE"
}

wipe_kafka() {
  case "$KAFKA_DATA_DIR" in
    ""|/|"$HOME"|"$HOME/") die "refusing to wipe KAFKA_DATA_DIR='$KAFKA_DATA_DIR'" ;;
  esac
  if [[ -d "$KAFKA_DATA_DIR" ]]; then
    rm -rf "$KAFKA_DATA_DIR"
    say kafka "wiped data dir $KAFKA_DATA_DIR"
  else
    say kafka "no data dir to wipe ($KAFKA_DATA_DIR)"
  fi
}

stop_redis() {
  if command -v redis-cli >/dev/null 2>&1 &&
     [[ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG* ]]; then
    redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    say redis "stopped ($REDIS_HOST:$REDIS_PORT)"
  else
    say redis "not running (or redis-cli missing)"
  fi
}

stop_postgres() {
  if ! tcp_open "$POSTGRES_HOST" "$POSTGRES_PORT"; then
    say postgres "not running"
    return 0
  fi
  local ver=""
  if command -v pg_ctlcluster >/dev/null 2>&1 && [[ -d /etc/postgresql ]]; then
    ver="$(ls /etc/postgresql | sort -V | tail -n1)"
  fi
  if [[ -n "$ver" ]] && pg_ctlcluster --skip-systemctl-redirect "$ver" main stop 9>&-; then
    say postgres "stopped cluster $ver/main"
  else
    say postgres "left running (could not stop it with pg_ctlcluster)"
  fi
}

stop_kafka
if ((WIPE)); then wipe_kafka; fi
if ((ALL)); then
  stop_redis
  stop_postgres
else
  say redis "left running (machine service; use --all to stop)"
  say postgres "left running (machine service; use --all to stop)"
fi
