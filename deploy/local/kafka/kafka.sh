#!/usr/bin/env bash
# Local single-node Kafka (KRaft) from the Apache jars fetched by scripts/deps.sh.
#   kafka.sh format DATA_DIR PORT CONTROLLER_PORT   render config, format storage (idempotent)
#   kafka.sh start  DATA_DIR PORT CONTROLLER_PORT   exec the broker (PID = the JVM), logs on stdout
# Env: ECO_TOOLS_DIR (jar cache, default ~/.cache/eco-base), KAFKA_CLUSTER_ID (optional),
#      KAFKA_HEAP_OPTS (default -Xms256m -Xmx512m), KAFKA_JVM_OPTS (extra JVM flags).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
libs="${ECO_TOOLS_DIR:-$HOME/.cache/eco-base}/kafka/libs"

die() { echo "kafka.sh: $*" >&2; exit 2; }
[ $# -eq 4 ] || die "usage: kafka.sh format|start DATA_DIR PORT CONTROLLER_PORT"
cmd=$1 port=$3 cport=$4
[[ $port =~ ^[0-9]+$ && $cport =~ ^[0-9]+$ ]] || die "ports must be numbers"
compgen -G "$libs/kafka_2.13-*.jar" >/dev/null || die "no Kafka jars in $libs (run: make deps)"
command -v java >/dev/null || die "java not found (run: make deps)"
mkdir -p "$2"
data=$(cd "$2" && pwd)
conf="$data/server.properties"

# shellcheck disable=SC2206  # the *_OPTS variables are word lists on purpose
jvm=(java -cp "$libs/*" ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseSerialGC
     -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Djava.awt.headless=true
     "-Dlog4j2.configurationFile=$here/log4j2.yaml" ${KAFKA_JVM_OPTS:-})

render() {
  sed -e "s|@KAFKA_PORT@|$port|g" -e "s|@KAFKA_CONTROLLER_PORT@|$cport|g" \
      -e "s|@DATA_DIR@|$data/logs|g" "$here/server.properties.in" > "$conf.tmp"
  mv "$conf.tmp" "$conf"
}

case $cmd in
  format)
    render
    if [ -f "$data/logs/meta.properties" ]; then exit 0; fi
    id=${KAFKA_CLUSTER_ID:-$("${jvm[@]}" kafka.tools.StorageTool random-uuid)}
    "${jvm[@]}" kafka.tools.StorageTool format --standalone -t "$id" -c "$conf" ;;
  start)
    [ -f "$data/logs/meta.properties" ] || die "$data is not formatted (run: kafka.sh format ...)"
    render
    exec "${jvm[@]}" kafka.Kafka "$conf" ;;
  *) die "unknown command '$cmd' (format|start)" ;;
esac
