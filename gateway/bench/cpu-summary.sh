#!/usr/bin/env bash
# Summarises an async-profiler "collapsed" CPU profile (one line per stack: frames;joined;by;semicolons COUNT):
# the share of samples per thread, per top frame (self time, kernel frames end in _[k]), and the inclusive share
# of the data path's main steps.
#   cpu-summary.sh FILE.collapsed [N]
set -euo pipefail
FILE="$1"
N="${2:-25}"
total="$(awk '{ s += $NF } END { print s + 0 }' "$FILE")"
echo "samples: $total"
echo "--- by thread"
awk -v t="$total" '{ n = $NF; split($0, f, ";"); th = f[1]; sub(/ tid=.*/, "", th); c[th] += n }
     END { for (k in c) printf "%6.1f%%  %s\n", 100 * c[k] / t, k }' "$FILE" | sort -rn | head -8
echo "--- self (top frame)"
awk -v t="$total" '{ n = $NF; line = $0; sub(/ [0-9]+$/, "", line); k = split(line, f, ";"); c[f[k]] += n }
     END { for (m in c) printf "%6.1f%%  %s\n", 100 * c[m] / t, m }' "$FILE" | sort -rn | head -"$N"
echo "--- inclusive (frames on the stack)"
for step in 'TcpPduDecoder.decode' 'TcpConnection.onCapsuleCmd' 'QueuePair.submit' 'NamespaceIo.submit' \
            'IoReactor.tryExecute' 'IoReactor$1.onEvent' 'MemoryBlockDevice.doRead' 'MemoryBlockDevice.doWrite' \
            'TcpConnection.drainCompletions' 'TcpConnection.sendAnswer' 'TcpConnection.flushIfPending' \
            'writev' 'epollWait' 'IoUringIoHandler' 'io_uring_enter' 'do_syscall_64' 'recvfrom' 'futex' \
            'ResourceLeakDetector' 'G1' ; do
    awk -v t="$total" -v s="$step" 'index($0, s) { c += $NF } END { if (c) printf "%6.1f%%  %s\n", 100 * c / t, s }' "$FILE"
done
