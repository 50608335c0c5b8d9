#!/usr/bin/env bash
# JMH micro-benchmarks of the gateway (gateway/src/jmh/java), outside the normal build and test run.
#
#   gateway/bench/jmh.sh                       TcpPathBenchmark with -prof gc (B/op allocated per I/O)
#   gateway/bench/jmh.sh [JMH arguments...]    anything JMH takes, e.g. -l, or TcpPathBenchmark.read -prof gc -f 1
#
# Builds the gateway with the jmh profile (reactor build, nothing installed), then runs org.openjdk.jmh.Main
# on its test classpath. Figures and how to read them: BENCHMARKS.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
case " ${MAVEN_OPTS:-} " in
    *" --sun-misc-unsafe-memory-access=allow "*) ;;
    *) export MAVEN_OPTS="${MAVEN_OPTS:+$MAVEN_OPTS }--sun-misc-unsafe-memory-access=allow" ;;
esac
(cd "$ROOT" && mvn -q -B -Pjmh -pl gateway -am process-test-classes)
G="$ROOT/gateway/target"
CP="$G/test-classes:$G/classes:$(cat "$G/jmh-classpath.txt")"
[ $# -gt 0 ] || set -- TcpPathBenchmark -prof gc
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -cp "$CP" \
    org.openjdk.jmh.Main "$@"
