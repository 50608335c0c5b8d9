#!/usr/bin/env bash
# vvolgate storage-engine benchmark (issue 3, "Figures"): snapshot and linked-clone time of a 1 GiB and a
# 1 TiB thin volume, and 10,000 volumes x 10 snapshots in one container (create, heap, recovery).
#
#   gateway/bench/container-bench.sh [--name=value ...]
#
# Compiles the gateway's test sources (offline), then runs io.vvolgate.gateway.volume.bench.ContainerBenchmark
# with the test classpath. Options go to the program: --part=all|snap|many, --samples=200, --warmup=500, --cluster=65536,
# --volumes=10000, --snapshots=10, --many-device=memory|file, --snap-devices=file,memory, --dir=DIR.
# Environment: BENCH_DIR (where the sparse 2 TiB / 64 GiB images go; a new dir under /var/tmp, removed after),
# HEAP (JVM -Xmx, 6g). Bounded: about 2-3 minutes with the defaults on a 2-CPU VM.
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
export MAVEN_OPTS="${MAVEN_OPTS:---sun-misc-unsafe-memory-access=allow}"
JAVA="$JAVA_HOME/bin/java"
HEAP="${HEAP:-6g}"

cd "$ROOT"
mvn -q -o -pl gateway -am test-compile

CP_FILE="$(mktemp)"
OWN_DIR=""
cleanup() {
    rm -f "$CP_FILE"
    [ -z "$OWN_DIR" ] || rm -rf "$OWN_DIR"
}
trap cleanup EXIT
mvn -q -o -pl gateway dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$CP_FILE" >/dev/null
# The reactor's own classes first; the bindings jar in ~/.m2 may be older than bindings/target/classes.
DEPS="$(tr ':' '\n' <"$CP_FILE" | grep -v '/vvolgate-bindings-' | paste -sd: -)"
CP="$ROOT/gateway/target/test-classes:$ROOT/gateway/target/classes:$ROOT/bindings/target/classes:$DEPS"

if [ -z "${BENCH_DIR:-}" ]; then
    OWN_DIR="$(mktemp -d /var/tmp/vvolgate-cbench.XXXXXX)"
    BENCH_DIR="$OWN_DIR"
fi

echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM"
echo "java: $("$JAVA" -version 2>&1 | head -1); -Xmx$HEAP"
echo "filesystem of $BENCH_DIR: $(df -T "$BENCH_DIR" | awk 'NR==2 {print $2 " on " $1}')"
echo "command: gateway/bench/container-bench.sh $*"
"$JAVA" -Xmx"$HEAP" -Xms"$HEAP" -XX:MaxDirectMemorySize=64g -XX:+UseG1GC \
    --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
    -Djava.util.logging.SimpleFormatter.format='%4$s %5$s%n' \
    -cp "$CP" io.vvolgate.gateway.volume.bench.ContainerBenchmark --dir="$BENCH_DIR" "$@"
