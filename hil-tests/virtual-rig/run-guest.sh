#!/usr/bin/env bash
# Boots the rig's guest once under QEMU (TCG) and runs one test script in it.
#
# Usage: run-guest.sh CACHE_DIR SCRIPT PARAMS_FILE TIMEOUT_SECONDS [extra qemu args...]
#
# SCRIPT becomes /rig/script.sh and PARAMS_FILE /rig/params (shell assignments) in the guest, via a
# small cpio appended to the cached initrd (Linux unpacks concatenated archives in order). The guest's
# serial console goes to stdout. Exit status: QEMU's, or 124 when TIMEOUT_SECONDS ran out.
# Environment: RIG_MEM_MB (default 1024), RIG_SMP (default 2), RIG_APPEND (extra kernel arguments),
# RIG_NETDEV_EXTRA (appended to the user netdev options, e.g. hostfwd=tcp:127.0.0.1:14420-:4420).
set -euo pipefail

if [ $# -lt 4 ]; then
    echo "usage: $0 CACHE_DIR SCRIPT PARAMS_FILE TIMEOUT_SECONDS [qemu args...]" >&2
    exit 2
fi
CACHE="$1" SCRIPT="$2" PARAMS="$3" TIMEOUT="$4"
shift 4

for f in "$CACHE/vmlinuz" "$CACHE/initrd.img" "$SCRIPT" "$PARAMS"; do
    [ -f "$f" ] || { echo "run-guest: missing $f (run setup.sh first?)" >&2; exit 2; }
done
command -v qemu-system-x86_64 >/dev/null || { echo "run-guest: qemu-system-x86_64 not installed" >&2; exit 2; }

RUN="$(mktemp -d "${TMPDIR:-/tmp}/rig-run.XXXXXX")"
trap 'rm -rf "$RUN"' EXIT
mkdir -p "$RUN/cpio/rig"
install -m 0755 "$SCRIPT" "$RUN/cpio/rig/script.sh"
install -m 0644 "$PARAMS" "$RUN/cpio/rig/params"
# rig/ must be listed before its files; the base archive already has the directory.
(cd "$RUN/cpio" && printf '%s\n' rig rig/script.sh rig/params | cpio -o -H newc --quiet) > "$RUN/run.cpio"
cat "$CACHE/initrd.img" "$RUN/run.cpio" > "$RUN/initrd.img"

# admin_timeout: a 6.1 host otherwise waits 60 s when a target drops the connection during Connect.
APPEND="console=ttyS0 panic=-1 nvme_core.admin_timeout=10 loglevel=6 ${RIG_APPEND:-}"

set +e
timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 \
    -machine q35 -accel tcg -cpu max -m "${RIG_MEM_MB:-1024}" -smp "${RIG_SMP:-2}" -no-reboot \
    -kernel "$CACHE/vmlinuz" -initrd "$RUN/initrd.img" -append "$APPEND" \
    -netdev "user,id=n0,ipv6=off${RIG_NETDEV_EXTRA:+,$RIG_NETDEV_EXTRA}" -device virtio-net-pci,netdev=n0,romfile= \
    -display none -serial stdio -monitor none -nodefaults "$@" </dev/null
rc=$?
set -e
[ "$rc" -ne 124 ] || echo "run-guest: QEMU timed out after ${TIMEOUT}s" >&2
exit "$rc"
