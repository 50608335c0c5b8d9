#!/usr/bin/env bash
# Execution samples of a JFR recording aggregated by top frame (the method on CPU), most frequent first.
#   top-frames.sh FILE.jfr [N]
set -euo pipefail
JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
"$JAVA_HOME/bin/jfr" print --events jdk.ExecutionSample --stack-depth 1 "$1" \
    | awk '/stackTrace = \[/ { getline; sub(/^[ \t]+/, ""); sub(/[ \t]+line:.*/, ""); n[$0]++; total++ }
           END { for (m in n) printf "%6.2f%%  %6d  %s\n", 100 * n[m] / total, n[m], m; }' \
    | sort -rn | head -"${2:-20}"
