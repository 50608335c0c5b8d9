#!/usr/bin/env bash
# vvolgate benchmark: the appliance on one core, the load generator on another, over loopback NVMe/TCP.
#
#   gateway/bench/run.sh [suite]   build if needed; serve a memory and a file namespace with the appliance
#                                  pinned to CPU 0 (taskset); run LoadGenerator --suite pinned to CPU 1
#                                  against each; print the figures; stop the appliance (SIGTERM)
#   gateway/bench/run.sh profile   the same appliance, one 4 KiB randread QD32 run on the memory namespace (PATTERN
#                                  overrides), with async-profiler (CPU, kernel frames included) and a JFR recording
#                                  of the appliance; prints where the CPU goes and what is allocated where
#   gateway/bench/run.sh fio       the io_uring file backend alone (DeviceBenchmark driving IoUringBlockDevice) against
#                                  fio's io_uring engine: 4 KiB randread QD32 O_DIRECT on the same 1 GiB file, both
#                                  pinned to CPU 1, fio before and after ours
#   gateway/bench/run.sh transport epoll against Netty's io_uring socket transport: 4 KiB randread and randwrite QD32
#                                  on the memory namespace, alternated (epoll, io_uring, epoll, io_uring)
#   gateway/bench/run.sh bars      issue 4's bars: 4 KiB randread and randwrite QD32 on the memory namespace with
#                                  neither side polling, the target polling (io_poll = true), the host polling
#                                  (LoadGenerator --poll), and both (SPDK's set-up: nvmf_tgt and perf both poll);
#                                  alternated, ROUNDS times (2)
#
# Environment: DURATION (measured seconds per run, 8), WARMUP (seconds, 2), REGION (bytes used, 512m),
# APPLIANCE_CPU (0), LOAD_CPU (1), BENCH_DIR (where the config, images and logs go; a new temp dir),
# FILE_IO (the file namespace's backend, config key file_io: io_uring or blocking; io_uring),
# APPLIANCE_OPTS (extra JVM options of the appliance, e.g. -Dvvolgate.tcp.transport=io_uring),
# CONNECTIONS (I/O queues of the load generator, 1), ROUNDS (fio and bars modes: alternations, 3 and 2),
# IO_POLL (true: the appliance's event loops poll, config key io_poll; false), HOST_POLL (1: the load generator
# polls too, LoadGenerator --poll; empty).
# Bounded: suite is 2 x (8 runs x (WARMUP + DURATION) + prefill), about 3 minutes with the defaults.
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)"
MODE="${1:-suite}"
DURATION="${DURATION:-8}"
WARMUP="${WARMUP:-2}"
REGION="${REGION:-512m}"
APPLIANCE_CPU="${APPLIANCE_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
NQN="nqn.2026-11.io.vvolgate:bench"
JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
JAVA="$JAVA_HOME/bin/java"
JVM_FLAGS=(--enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow)

die() {
    echo "bench: error: $*" >&2
    exit 1
}

machine() {
    echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
    echo "java: $("$JAVA" -version 2>&1 | head -1)"
}

fio_mode() {
    command -v fio >/dev/null || die "fio is not installed (apt-get install fio)"
    local dir="${BENCH_DIR:-$(mktemp -d /var/tmp/vvolgate-fio.XXXXXX)}"
    local file="$dir/fio.img"
    machine
    echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
    run_fio() {
        fio --name=randread --filename="$file" --size=1g --ioengine=io_uring --direct=1 --rw=randread --bs=4k \
            --iodepth=32 --runtime="$DURATION" --ramp_time="$WARMUP" --time_based --cpus_allowed="$LOAD_CPU" \
            --group_reporting --output-format=normal > "$dir/fio.out"
        echo "fio      randread bs=4096 qd=32 $(grep -oE 'IOPS=[0-9.]+k?' "$dir/fio.out" | head -1)" \
             "lat avg $(sed -nE 's/^ +lat \((usec|msec)\):.*avg=([0-9.]+).*/\2 \1/p' "$dir/fio.out" | head -1)" \
             "cpu $(sed -nE 's/^ +cpu +: (usr=[0-9.]+%, sys=[0-9.]+%).*/\1/p' "$dir/fio.out")"
    }
    run_ours() {
        taskset -c "$LOAD_CPU" "$JAVA" "${JVM_FLAGS[@]}" -cp "$CP" io.vvolgate.gateway.device.bench.DeviceBenchmark \
            --path "$file" --size 1g --backend io_uring --pattern randread --bs 4k --qd 32 \
            --duration "$DURATION" --warmup "$WARMUP" | grep -v '^device:'
    }
    echo "fio (io_uring engine) and DeviceBenchmark (IoUringBlockDevice), 4 KiB randread QD32 O_DIRECT, the same 1 GiB"
    echo "file $file, each pinned to CPU $LOAD_CPU, ${DURATION}s after ${WARMUP}s; alternated ${ROUNDS:-3} times, fio last too"
    for _ in $(seq 1 "${ROUNDS:-3}"); do
        run_fio
        run_ours
    done
    run_fio
    echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
    rm -f "$file" "$dir/fio.out"
    [ -n "${BENCH_DIR:-}" ] || rmdir "$dir"
}

case "$MODE" in suite | profile | fio | transport | bars) ;; *) die "unknown mode $MODE (suite, profile, fio, transport or bars)" ;; esac
command -v taskset >/dev/null || die "taskset is not installed (util-linux)"

# Build when the launcher would: missing, or a POM or source newer than its stamp.
STAMP="$ROOT/control/target/.vvolgate-built"
if [ ! -f "$STAMP" ] || [ ! -f "$ROOT/control/target/classpath.txt" ] || [ "$ROOT/pom.xml" -nt "$STAMP" ] \
   || [ -n "$(cd "$ROOT" && find bindings gateway control \( -name pom.xml -o -path '*/src/main/*' \) -type f -newer "$STAMP" -print -quit)" ]; then
    "$ROOT/vvolgate" build
fi
CP="$ROOT/control/target/classes:$(cat "$ROOT/control/target/classpath.txt")"
[ "$MODE" = fio ] && { fio_mode; exit 0; }

WORK="${BENCH_DIR:-$(mktemp -d /var/tmp/vvolgate-bench.XXXXXX)}"
mkdir -p "$WORK"
cat > "$WORK/bench.toml" <<TOML
state_dir = "$WORK/state"
io_threads = 1
file_io = "${FILE_IO:-io_uring}"
io_poll = ${IO_POLL:-false}

[[listener]]
address = "127.0.0.1"
port = 0
kind = "io"

[[subsystem]]
nqn = "$NQN"
allow_any_host = true

[[subsystem.namespace]]            # nsid 1
backend = "memory"
size = "1GiB"
block_size = 512

[[subsystem.namespace]]            # nsid 2
backend = "file"
path = "$WORK/bench.img"
size = "1GiB"
block_size = 512
TOML

APPLIANCE_PID=""
stop_appliance() {
    if [ -n "$APPLIANCE_PID" ] && kill -0 "$APPLIANCE_PID" 2>/dev/null; then
        kill -TERM "$APPLIANCE_PID"
        for _ in $(seq 1 100); do
            kill -0 "$APPLIANCE_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$APPLIANCE_PID" 2>/dev/null && { echo "bench: appliance did not stop; killing it" >&2; kill -KILL "$APPLIANCE_PID"; }
        wait "$APPLIANCE_PID" 2>/dev/null || true
        grep -q '^vvolgate: stopped' "$WORK/appliance.out" && echo "appliance: stopped cleanly"
    fi
    APPLIANCE_PID=""
}
trap stop_appliance EXIT

# start_appliance [JVM options...]: serves bench.toml pinned to APPLIANCE_CPU; sets APPLIANCE_PID and PORT.
start_appliance() {
    rm -f "$WORK/appliance.out" "$WORK/appliance.err" # else the wait below may read the previous run's lines
    # shellcheck disable=SC2086
    taskset -c "$APPLIANCE_CPU" "$JAVA" "${JVM_FLAGS[@]}" ${APPLIANCE_OPTS:-} "$@" -cp "$CP" io.vvolgate.control.Main serve \
        --config "$WORK/bench.toml" > "$WORK/appliance.out" 2> "$WORK/appliance.err" &
    APPLIANCE_PID=$!
    for _ in $(seq 1 300); do
        grep -q '^vvolgate: ready' "$WORK/appliance.out" 2>/dev/null && break
        kill -0 "$APPLIANCE_PID" 2>/dev/null || { cat "$WORK/appliance.err" >&2; die "the appliance exited"; }
        sleep 0.1
    done
    PORT="$(sed -nE 's/^vvolgate: listening [^ ]+:([0-9]+) nvme-tcp io$/\1/p' "$WORK/appliance.out" | head -1)"
    [ -n "$PORT" ] || die "the appliance did not say where it listens (see $WORK/appliance.out)"
    echo "appliance: pid $APPLIANCE_PID on CPU $APPLIANCE_CPU, io_threads 1, file_io ${FILE_IO:-io_uring}, io_poll $(sed -n 's/^io_poll = //p' "$WORK/bench.toml"), $(sed -nE 's/.*NVMe\/TCP transport on ([a-z_]+).*/socket transport \1/p' "$WORK/appliance.err" | head -1), options: ${APPLIANCE_OPTS:-} $*; 127.0.0.1:$PORT; load on CPU $LOAD_CPU; work dir $WORK"
}

load() {
    taskset -c "$LOAD_CPU" "$JAVA" "${JVM_FLAGS[@]}" -cp "$CP" io.vvolgate.gateway.host.bench.LoadGenerator \
        --address 127.0.0.1 --port "$PORT" --nqn "$NQN" --region "$REGION" --duration "$DURATION" --warmup "$WARMUP" \
        --connections "${CONNECTIONS:-1}" --target-pid "$APPLIANCE_PID" ${HOST_POLL:+--poll} "$@"
}

machine
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

case "$MODE" in
suite)
    start_appliance
    load --nsid 1 --label memory --prefill --suite
    load --nsid 2 --label file --prefill --suite
    ;;
transport)
    for round in 1 2; do
        for t in epoll io_uring; do
            start_appliance "-Dvvolgate.tcp.transport=$t"
            load --nsid 1 --label "memory-$t" --prefill --pattern randread --bs 4k --qd 32
            load --nsid 1 --label "memory-$t" --pattern randwrite --bs 4k --qd 32
            stop_appliance
        done
    done
    ;;
bars)
    for round in $(seq 1 "${ROUNDS:-2}"); do
        for target_poll in false true; do
            sed -i "s/^io_poll = .*/io_poll = $target_poll/" "$WORK/bench.toml"
            start_appliance
            prefill=(--prefill) # a memory namespace starts empty with every start
            for host_poll in "" 1; do
                label="round$round-target_poll=$target_poll-host_poll=$([ -n "$host_poll" ] && echo true || echo false)"
                HOST_POLL="$host_poll" load --nsid 1 --label "$label" "${prefill[@]}" --pattern randread --bs 4k --qd 32
                prefill=()
                HOST_POLL="$host_poll" load --nsid 1 --label "$label" --pattern randwrite --bs 4k --qd 32
            done
            stop_appliance
        done
    done
    ;;
profile)
    start_appliance
    PATTERN="${PATTERN:-randread}"
    JFR="$WORK/appliance-$PATTERN-qd32.jfr"
    PROFILE_SECONDS="${PROFILE_SECONDS:-20}"
    ASPROF="$WORK/async-profiler/linux-x64/libasyncProfiler.so"
    if [ ! -f "$ASPROF" ]; then
        # async-profiler from Maven Central (tools.profiler:async-profiler), its native library taken from the jar.
        (cd "$ROOT" && mvn -q -B dependency:copy -Dartifact=tools.profiler:async-profiler:4.2 \
            -DoutputDirectory="$WORK/async-profiler" >/dev/null) \
            && (cd "$WORK/async-profiler" && unzip -q -o async-profiler-4.2.jar 'linux-x64/*') \
            || echo "bench: async-profiler not available; JFR only" >&2
    fi
    load --nsid 1 --label memory --prefill --pattern randread --bs 4k --qd 1 --duration 1 --warmup 0 >/dev/null
    load --nsid 1 --label memory --pattern "$PATTERN" --bs 4k --qd 32 --warmup 3 --duration "$((PROFILE_SECONDS + 4))" &
    LOAD_PID=$!
    sleep 5
    "$JAVA_HOME/bin/jcmd" "$APPLIANCE_PID" JFR.start name=bench settings=profile duration="${PROFILE_SECONDS}s" filename="$JFR" >/dev/null
    if [ -f "$ASPROF" ]; then
        sleep 2
        # jcmd splits its arguments at commas unless quoted.
        "$JAVA_HOME/bin/jcmd" "$APPLIANCE_PID" JVMTI.agent_load "$ASPROF" "\"start,event=cpu,interval=1ms,threads\"" >/dev/null
        sleep "$((PROFILE_SECONDS - 6))"
        "$JAVA_HOME/bin/jcmd" "$APPLIANCE_PID" JVMTI.agent_load "$ASPROF" "\"stop,file=$WORK/cpu.collapsed,collapsed\"" >/dev/null
    fi
    wait "$LOAD_PID"
    for _ in $(seq 1 100); do [ -s "$JFR" ] && break; sleep 0.1; done
    sleep 1
    if [ -s "$WORK/cpu.collapsed" ]; then
        echo "--- async-profiler CPU profile: $WORK/cpu.collapsed"
        bash "$ROOT/gateway/bench/cpu-summary.sh" "$WORK/cpu.collapsed" 25
    fi
    echo "--- JFR: $JFR"
    "$JAVA_HOME/bin/jfr" view --width 160 allocation-by-site "$JFR" || true
    "$JAVA_HOME/bin/jfr" summary "$JFR" | grep -E 'ObjectAllocationSample|GarbageCollection |ExecutionSample' || true
    bash "$ROOT/gateway/bench/top-frames.sh" "$JFR" 15 || true
    ;;
esac
stop_appliance
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
