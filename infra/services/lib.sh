# shellcheck shell=bash
# Shared settings and helpers for infra/services/{up,down,kafka-class}.sh.
# Sourced, not executed.

SERVICES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# --- settings (all overridable from the environment) -------------------------
SERVICES_HOME="${EVENTFLOW_SERVICES_HOME:-$HOME/.cache/eventflow}"

KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
KAFKA_HOST="${KAFKA_HOST:-127.0.0.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_ADVERTISED_HOST="${KAFKA_ADVERTISED_HOST:-$KAFKA_HOST}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx768m -Xms256m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"

KAFKA_BASE="$SERVICES_HOME/kafka-$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_BASE/libs"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$KAFKA_BASE/data}"
KAFKA_RUN_DIR="$SERVICES_HOME/run"
KAFKA_PID_FILE="$KAFKA_RUN_DIR/kafka.pid"
KAFKA_LOG_FILE="$KAFKA_RUN_DIR/kafka.log"
KAFKA_CONFIG="$KAFKA_RUN_DIR/server.properties"
LIBS_MARKER=".eventflow-complete"

POSTGRES_HOST="${POSTGRES_HOST:-127.0.0.1}"
POSTGRES_PORT="${POSTGRES_PORT:-5432}"
REDIS_HOST="${REDIS_HOST:-127.0.0.1}"
REDIS_PORT="${REDIS_PORT:-6379}"

# JVM flags taken from Kafka's bin/kafka-run-class.sh (KAFKA_JVM_PERFORMANCE_OPTS).
KAFKA_JVM_PERFORMANCE_OPTS="${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true}"

# --- output helpers -----------------------------------------------------------
say()  { printf '%-9s %s\n' "$1" "$2"; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

is_kafka4() { [[ "$KAFKA_VERSION" == 4.* || "$KAFKA_VERSION" == [5-9].* ]]; }

# tcp_open HOST PORT -> 0 if something accepts connections.
tcp_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# --- kafka process helpers ----------------------------------------------------
# Prints the pid from the pid file if that process is alive and is our broker.
kafka_running_pid() {
  [[ -f "$KAFKA_PID_FILE" ]] || return 1
  local pid
  pid="$(tr -dc '0-9' <"$KAFKA_PID_FILE")"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: it must be a java running kafka.Kafka.
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'kafka\.Kafka' || return 1
  fi
  echo "$pid"
}

# Writes the log4j (Kafka 3.x) and log4j2 (Kafka 4.x) configs used by the
# broker (stdout -> kafka.log) and by the CLI tools (warnings to stderr).
write_log_configs() {
  mkdir -p "$KAFKA_RUN_DIR"
  cat >"$KAFKA_RUN_DIR/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.controller=INFO
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.storage.internals.log=WARN
EOF
  cat >"$KAFKA_RUN_DIR/tools-log4j.properties" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.appender.stderr.Target=System.err
EOF
  cat >"$KAFKA_RUN_DIR/log4j2.properties" <<'EOF'
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.statechange.name = state.change.logger
logger.statechange.level = warn
EOF
  cat >"$KAFKA_RUN_DIR/tools-log4j2.properties" <<'EOF'
status = warn
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = STDERR
EOF
}

# kafka_tool MAIN_CLASS ARGS... : run a Kafka CLI class from the cached jars.
# JVM flags come from $TOOL_JVM_OPTS; the default starts fast (C1 only) and is
# meant for short admin commands. kafka-class.sh uses full JIT flags instead.
kafka_tool() {
  [[ -f "$KAFKA_RUN_DIR/tools-log4j.properties" ]] || write_log_configs
  local -a prefix=()
  if [[ -n "${TOOL_TIMEOUT:-}" ]] && command -v timeout >/dev/null 2>&1; then
    prefix=(timeout "$TOOL_TIMEOUT")
  fi
  # shellcheck disable=SC2086
  ${prefix[@]+"${prefix[@]}"} java ${TOOL_JVM_OPTS:--Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true} \
    "-Dlog4j.configuration=file:$KAFKA_RUN_DIR/tools-log4j.properties" \
    "-Dlog4j2.configurationFile=file:$KAFKA_RUN_DIR/tools-log4j2.properties" \
    -cp "$KAFKA_LIBS/*" "$@"
}

libs_complete() {
  [[ -f "$KAFKA_LIBS/$LIBS_MARKER" && -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]] || return 1
  local want have
  want="$(head -n1 "$KAFKA_LIBS/$LIBS_MARKER" | tr -dc '0-9')"
  have="$(find "$KAFKA_LIBS/" -maxdepth 1 -name '*.jar' | wc -l)"
  [[ -n "$want" && "$want" -eq "$have" ]]
}
