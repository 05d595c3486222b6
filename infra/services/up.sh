#!/usr/bin/env bash
# Start the local services EventFlow needs: PostgreSQL, Redis and a single-node
# Apache Kafka broker (KRaft, no ZooKeeper, no Docker). Idempotent.
#
#   npm run services:up        (= bash infra/services/up.sh)
#
# See infra/services/README.md for the environment variables.
set -euo pipefail

# shellcheck source=infra/services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
  "") ;;
  *) die "unknown argument: $1 (try --help)" ;;
esac

is_local_host() { [[ "$1" == 127.0.0.1 || "$1" == localhost || "$1" == ::1 ]]; }

mkdir -p "$SERVICES_HOME" "$KAFKA_RUN_DIR"

# Serialise concurrent runs (parallel CI jobs, double npm run). fd 9 must not be
# inherited by the daemons we spawn, or they would hold the lock forever.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$SERVICES_HOME/.lock"
  flock -w 600 9 || die "timed out waiting for another services:up/down to finish ($SERVICES_HOME/.lock)"
fi

# --- PostgreSQL ---------------------------------------------------------------
pg_ready() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$POSTGRES_HOST" -p "$POSTGRES_PORT" -t 3 >/dev/null 2>&1
  else
    tcp_open "$POSTGRES_HOST" "$POSTGRES_PORT"
  fi
}

ensure_postgres() {
  if pg_ready; then
    say postgres "already running on $POSTGRES_HOST:$POSTGRES_PORT"
    return 0
  fi
  is_local_host "$POSTGRES_HOST" ||
    die "PostgreSQL is not answering on $POSTGRES_HOST:$POSTGRES_PORT (remote host, not starting it)"
  local ver=""
  if command -v pg_ctlcluster >/dev/null 2>&1 && [[ -d /etc/postgresql ]]; then
    ver="$(ls /etc/postgresql | sort -V | tail -n1)"
  fi
  [[ -n "$ver" ]] ||
    die "PostgreSQL is not answering on $POSTGRES_HOST:$POSTGRES_PORT and no Debian cluster (pg_ctlcluster) was found. Start it yourself, or use infra/docker-compose.yml."
  local out
  if ! out="$(pg_ctlcluster --skip-systemctl-redirect "$ver" main start 2>&1 9>&-)"; then
    printf '%s\n' "$out" >&2
    die "could not start PostgreSQL cluster $ver/main (try: sudo pg_ctlcluster --skip-systemctl-redirect $ver main start)"
  fi
  local i
  for ((i = 0; i < 30; i++)); do
    pg_ready && { say postgres "started cluster $ver/main on $POSTGRES_HOST:$POSTGRES_PORT"; return 0; }
    sleep 1
  done
  die "PostgreSQL cluster $ver/main was started but does not answer on $POSTGRES_HOST:$POSTGRES_PORT after 30s"
}

# --- Redis --------------------------------------------------------------------
redis_ready() {
  if command -v redis-cli >/dev/null 2>&1; then
    [[ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG* ]]
  else
    local reply=""
    exec 8<>"/dev/tcp/$REDIS_HOST/$REDIS_PORT" 2>/dev/null || return 1
    printf 'PING\r\n' >&8
    read -r -t 3 reply <&8 || true
    exec 8>&- 8<&-
    [[ "$reply" == +PONG* ]]
  fi
}

ensure_redis() {
  if redis_ready; then
    say redis "already running on $REDIS_HOST:$REDIS_PORT"
    return 0
  fi
  if tcp_open "$REDIS_HOST" "$REDIS_PORT"; then
    die "something listens on $REDIS_HOST:$REDIS_PORT but does not answer PING with PONG (password set?)"
  fi
  is_local_host "$REDIS_HOST" ||
    die "Redis is not answering on $REDIS_HOST:$REDIS_PORT (remote host, not starting it)"
  command -v redis-server >/dev/null 2>&1 ||
    die "Redis is not answering on $REDIS_HOST:$REDIS_PORT and redis-server is not installed. Start it yourself, or use infra/docker-compose.yml."
  local dir=/var/lib/redis logfile=/var/log/redis/ci.log
  if [[ ! -w "$dir" || ! -w "$(dirname "$logfile")" ]]; then
    dir="$SERVICES_HOME/redis"
    logfile="$KAFKA_RUN_DIR/redis.log"
    mkdir -p "$dir"
  fi
  local out
  if ! out="$(redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
      --save "" --appendonly no --dir "$dir" --logfile "$logfile" 2>&1 9>&-)"; then
    printf '%s\n' "$out" >&2
    die "could not start redis-server (log: $logfile)"
  fi
  local i
  for ((i = 0; i < 20; i++)); do
    redis_ready && { say redis "started redis-server on $REDIS_HOST:$REDIS_PORT (log: $logfile)"; return 0; }
    sleep 0.5
  done
  die "redis-server was started but does not answer on $REDIS_HOST:$REDIS_PORT after 10s (log: $logfile)"
}

# --- Kafka --------------------------------------------------------------------
java_major() {
  java -version 2>&1 | sed -E -n 's/.* version "([0-9]+)(\.([0-9]+))?.*/\1 \3/p' | head -n1 |
    awk '{ print ($1 == 1 ? $2 : $1) }'
}

ensure_libs() {
  libs_complete && return 0
  command -v mvn >/dev/null 2>&1 ||
    die "Maven (mvn) is needed once to download the Kafka $KAFKA_VERSION jars into $KAFKA_LIBS"
  say kafka "fetching Kafka $KAFKA_VERSION jars with Maven into $KAFKA_LIBS (one-time, may take a few minutes)"
  mkdir -p "$KAFKA_BASE"
  local tmp
  tmp="$(mktemp -d "$KAFKA_BASE/.libs.XXXXXX")"
  local -a extra=()
  is_kafka4 && extra+=(-Dkafka4)
  # shellcheck disable=SC2206
  extra+=(${EVENTFLOW_MAVEN_ARGS:-})
  if ! mvn -B -ntp -Dstyle.color=never -f "$SERVICES_DIR/pom.xml" "-Dkafka.version=$KAFKA_VERSION" ${extra[@]+"${extra[@]}"} \
      dependency:copy-dependencies -DincludeScope=runtime "-DoutputDirectory=$tmp" \
      >"$KAFKA_RUN_DIR/maven.log" 2>&1 9>&-; then
    rm -rf "$tmp"
    tail -n 30 "$KAFKA_RUN_DIR/maven.log" >&2
    die "Maven could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION (check Maven's repository settings, or try another KAFKA_VERSION)"
  fi
  local n
  n="$(find "$tmp" -maxdepth 1 -name '*.jar' | wc -l)"
  [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" && "$n" -gt 10 ]] || {
    rm -rf "$tmp"
    die "Maven finished but the Kafka jars are missing in $tmp"
  }
  printf '%s\nkafka %s\n' "$n" "$KAFKA_VERSION" >"$tmp/$LIBS_MARKER"
  rm -rf "$KAFKA_LIBS"
  chmod 755 "$tmp"
  mv "$tmp" "$KAFKA_LIBS"
}

write_server_properties() {
  cat >"$KAFKA_CONFIG" <<EOF
# Generated by infra/services/up.sh on every start; edits are overwritten.
# Single-node KRaft broker+controller for local development and CI.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_ADVERTISED_HOST:$KAFKA_PORT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DATA_DIR

num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
auto.create.topics.enable=false
delete.topic.enable=true
group.initial.rebalance.delay.ms=0
EOF
}

# Prints nothing; returns 0 once the broker serves a metadata request.
kafka_answers() {
  TOOL_TIMEOUT=30 kafka_tool org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$KAFKA_HOST:$KAFKA_PORT" --list >/dev/null 2>&1
}

log_tail() {
  if [[ -f "$KAFKA_LOG_FILE" ]]; then
    echo "---- last 40 lines of $KAFKA_LOG_FILE ----" >&2
    tail -n 40 "$KAFKA_LOG_FILE" >&2
    echo "----" >&2
  fi
}

wait_for_kafka() { # PID START_SECONDS
  local pid="$1" start="$2"
  local deadline=$((start + KAFKA_START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log_tail
      rm -f "$KAFKA_PID_FILE"
      die "the Kafka broker (pid $pid) exited during startup; see $KAFKA_LOG_FILE"
    fi
    if tcp_open "$KAFKA_HOST" "$KAFKA_PORT" && kafka_answers; then
      return 0
    fi
    sleep 1
  done
  log_tail
  die "Kafka did not answer on $KAFKA_HOST:$KAFKA_PORT within ${KAFKA_START_TIMEOUT}s (pid $pid is left running; 'npm run services:down' stops it, KAFKA_START_TIMEOUT raises the limit)"
}

ensure_kafka() {
  local pid=""
  pid="$(kafka_running_pid)" || pid=""
  if [[ -z "$pid" && -f "$KAFKA_PID_FILE" ]]; then
    rm -f "$KAFKA_PID_FILE"
    echo "(removed stale pid file $KAFKA_PID_FILE)"
  fi

  if [[ -n "$pid" ]]; then
    if tcp_open "$KAFKA_HOST" "$KAFKA_PORT"; then
      say kafka "already running (pid $pid) on $KAFKA_HOST:$KAFKA_PORT"
      return 0
    fi
    # Our broker is alive but not listening yet: another run is starting it.
    local t0=$SECONDS
    wait_for_kafka "$pid" "$t0"
    say kafka "already started (pid $pid), ready on $KAFKA_HOST:$KAFKA_PORT after $((SECONDS - t0))s"
    return 0
  fi

  if tcp_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    # Not ours (Docker, a manual broker, ...). Accept it if it speaks Kafka.
    if libs_complete && ! kafka_answers; then
      die "$KAFKA_HOST:$KAFKA_PORT is in use but does not answer as a Kafka broker; free the port or set KAFKA_PORT"
    fi
    say kafka "already running on $KAFKA_HOST:$KAFKA_PORT (not started by this script)"
    return 0
  fi
  if tcp_open "$KAFKA_HOST" "$KAFKA_CONTROLLER_PORT"; then
    die "controller port $KAFKA_HOST:$KAFKA_CONTROLLER_PORT is already in use; free it or set KAFKA_CONTROLLER_PORT"
  fi

  command -v java >/dev/null 2>&1 || die "java is not on PATH (Kafka $KAFKA_VERSION needs a JDK/JRE 17)"
  local need=11 have
  is_kafka4 && need=17
  have="$(java_major)"
  [[ -n "$have" && "$have" -ge "$need" ]] ||
    die "Kafka $KAFKA_VERSION needs Java $need+, found '${have:-unknown}'"

  ensure_libs
  write_log_configs
  write_server_properties
  mkdir -p "$KAFKA_DATA_DIR"

  local formatted=""
  if [[ ! -f "$KAFKA_DATA_DIR/meta.properties" ]]; then
    local cluster_id out
    cluster_id="$(kafka_tool kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
    [[ "$cluster_id" =~ ^[A-Za-z0-9_-]{22}$ ]] || die "could not generate a Kafka cluster id (got '$cluster_id')"
    if ! out="$(kafka_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_CONFIG" --ignore-formatted 2>&1)"; then
      printf '%s\n' "$out" >&2
      die "formatting the Kafka log dir $KAFKA_DATA_DIR failed"
    fi
    formatted=" (new cluster $cluster_id)"
  fi

  [[ -f "$KAFKA_LOG_FILE" ]] && mv -f "$KAFKA_LOG_FILE" "$KAFKA_LOG_FILE.1"
  local -a launcher=(nohup)
  command -v setsid >/dev/null 2>&1 && launcher=(setsid)
  local -a overrides=()
  local kv
  for kv in ${KAFKA_OVERRIDES:-}; do overrides+=(--override "$kv"); done

  local t0=$SECONDS
  rm -f "$KAFKA_PID_FILE"
  # The inner bash writes its own pid (= the java pid after exec) to the pid file.
  # shellcheck disable=SC2016,SC2086
  "${launcher[@]}" bash -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_PID_FILE" \
    java $KAFKA_HEAP_OPTS $KAFKA_JVM_PERFORMANCE_OPTS \
    "-Dkafka.logs.dir=$KAFKA_RUN_DIR" \
    "-Dlog4j.configuration=file:$KAFKA_RUN_DIR/log4j.properties" \
    "-Dlog4j2.configurationFile=file:$KAFKA_RUN_DIR/log4j2.properties" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONFIG" ${overrides[@]+"${overrides[@]}"} \
    >>"$KAFKA_LOG_FILE" 2>&1 </dev/null 9>&- &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s "$KAFKA_PID_FILE" ]] && break
    sleep 0.1
  done
  pid="$(tr -dc '0-9' <"$KAFKA_PID_FILE" 2>/dev/null || true)"
  [[ -n "$pid" ]] || pid=$!
  echo "$pid" >"$KAFKA_PID_FILE"

  wait_for_kafka "$pid" "$t0"
  say kafka "started Kafka $KAFKA_VERSION (pid $pid) on $KAFKA_HOST:$KAFKA_PORT in $((SECONDS - t0))s$formatted; data: $KAFKA_DATA_DIR, log: $KAFKA_LOG_FILE"
}

if [[ "${SKIP_POSTGRES:-0}" == 1 ]]; then say postgres "skipped (SKIP_POSTGRES=1)"; else ensure_postgres; fi
if [[ "${SKIP_REDIS:-0}" == 1 ]]; then say redis "skipped (SKIP_REDIS=1)"; else ensure_redis; fi
if [[ "${SKIP_KAFKA:-0}" == 1 ]]; then say kafka "skipped (SKIP_KAFKA=1)"; else ensure_kafka; fi
