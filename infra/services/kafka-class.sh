#!/usr/bin/env bash
# Run any Kafka CLI class from the jars cached by up.sh, e.g.
#
#   bash infra/services/kafka-class.sh org.apache.kafka.tools.TopicCommand \
#        --bootstrap-server 127.0.0.1:9092 --list
#   bash infra/services/kafka-class.sh org.apache.kafka.tools.ProducerPerformance \
#        --topic perf --num-records 100000 --record-size 300 --throughput -1 \
#        --producer-props bootstrap.servers=127.0.0.1:9092 acks=all
#   bash infra/services/kafka-class.sh --classpath   # prints the classpath
#
# JVM flags: TOOL_JVM_OPTS (default: -Xmx512m + Kafka's usual G1 flags).
set -euo pipefail

# shellcheck source=infra/services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
  ""|-h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
esac
libs_complete || die "Kafka $KAFKA_VERSION jars are not cached in $KAFKA_LIBS yet; run 'npm run services:up' first"
if [[ "$1" == --classpath ]]; then
  echo "$KAFKA_LIBS/*"
  exit 0
fi
TOOL_JVM_OPTS="${TOOL_JVM_OPTS:--Xmx512m $KAFKA_JVM_PERFORMANCE_OPTS}" kafka_tool "$@"
