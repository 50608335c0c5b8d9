#!/bin/sh
# The virtual rig's NVMe/TCP suite, run by the guest's /init as /rig/script.sh (busybox sh).
#
# Parameters come from /rig/params (shell assignments written by the host):
#   RIG_PHASE        main   : discovery, connects (plain, digests, 1 and 2 I/O queues), identify and log
#                             pages, fio verify, flush, write-zeroes, compare, dsm, disconnect, unknown NQN;
#                             writes the persistence pattern and reports its checksum and the namespace ids
#                    verify : after the appliance restarted, reads the pattern back and checks the ids; then,
#                             on namespace 2 (a snapshot of namespace 1 the appliance took at its restart)
#                             and namespace 3 (a linked clone of that snapshot): the snapshot holds what
#                             boot 1 left, stays so while the volume changes, refuses writes; the clone
#                             starts as the snapshot and takes writes without touching either
#                    bind   : a container's protocol endpoint subsystem, driven by the test through the REST
#                             API at checkpoints (RIG-CHECKPOINT lines): connected as this host and as a second
#                             host NQN, no namespace until the volume is bound; after bind it appears on the
#                             same controller (no reconnect); fio verify on it; after a snapshot, a linked
#                             clone of it and the clone's bind, the clone appears and reads back the same
#                             data; after each unbind the namespace disappears and I/O to its NSID fails;
#                             the second host never sees either
#   RIG_TARGET       address of the appliance as the guest sees it (10.0.2.2 under QEMU user networking)
#   RIG_IO_PORT, RIG_DISC_PORT, RIG_NQN
#   RIG_PERSIST_TOKEN          makes the persisted pattern (main) and the later patterns (verify) unique
#   RIG_EXPECT_PERSIST_SHA256, RIG_EXPECT_NGUID, RIG_EXPECT_UUID   (verify) values boot 1 reported
#   RIG_PE_NQN, RIG_HOST_NQN, RIG_HOST2_NQN, RIG_HOST2_ID, RIG_VOLUME_NGUID, RIG_VOLUME_BYTES   (bind) the
#                    protocol endpoint subsystem, this host's and the second host's NQN (and the second's
#                    host ID), and the NGUID and size the API gave the volume it will bind
#   RIG_BIND_WAIT    (bind) seconds a step waits for the effect of the test's API call (default 60)
#   RIG_FIO_SIZE_MB  (default 64), RIG_STEP_TIMEOUT (seconds, default 300)
#   (read by guest/init: RIG_HOSTID for a stable host NQN across boots, RIG_GUEST_IP, RIG_CONSOLE_LOGLEVEL)
#
# Output contract (one line each, parsed by VirtualRigTest):
#   RIG-PLAN <step> <step> ...      every step this run will report
#   RIG-STEP <step> PASS [detail]   / RIG-STEP <step> FAIL <detail>
#   RIG-LOG <step>: <line>          tail of a failed step's output, and a step's SHOW: lines when it passed
#   RIG-VALUE <key> <value>         values the host carries into the next boot
#   RIG-CHECKPOINT <name>           (bind) the test now acts through the API; the next step polls for the effect
#   RIG-RESULT PASS|FAIL            last line; PASS only when every planned step passed
#
# Every step runs in its own process under `timeout`, so a hung command fails its step instead of the
# whole boot. Steps share state (the connected controller and namespace) through files in $STATE.

STATE=/tmp/rig-state
. /rig/params

TARGET="${RIG_TARGET:-10.0.2.2}"
FIO_MB="${RIG_FIO_SIZE_MB:-64}"
UNKNOWN_NQN="nqn.2026-11.io.vvolgate:rig-no-such-subsystem"
# Bound reconnect attempts so an appliance that drops a connection fails the step instead of hanging.
CONNECT_OPTS="-l 20 -c 2"

# Byte offsets (MiB) of the regions each step uses on the namespace (>= 512 MiB in the rig config).
FIO_MIXED_OFFSET_MB=$FIO_MB
ZEROES_OFFSET_MB=200
COMPARE_OFFSET_MB=210
DSM_OFFSET_MB=256
SMALL_IO_OFFSET_MB=300
PERSIST_OFFSET_MB=384
PERSIST_MB=4
# Regions compared between the volume and its snapshot in the verify phase (1 MiB each): fio, zeroes, compare, small I/O.
SAME_OFFSETS_MB="0 $FIO_MIXED_OFFSET_MB $ZEROES_OFFSET_MB $COMPARE_OFFSET_MB $SMALL_IO_OFFSET_MB"
# Boot 1's fio-mixed-4k-256k-verify job; the verify phase replays it with --verify_only on the snapshot.
MIXED_JOB="--rw=randwrite --offset=${FIO_MIXED_OFFSET_MB}m --bssplit=4k/30:16k/20:64k/20:128k/15:256k/15"
# Namespaces of the verify phase (see VirtualRigTest's boot-2 config).
NSID_VOLUME=1
NSID_SNAP=2
NSID_CLONE=3
# The bind phase: fio and a checksummed pattern on the bound volume (>= 256 MiB in VirtualRigTest).
BOUND_FIO_MB=32
BOUND_JOB="--rw=randwrite --offset=0 --bssplit=4k/30:16k/20:64k/20:128k/15:256k/15"
BOUND_PATTERN_OFFSET_MB=128
BOUND_PATTERN_MB=4
BIND_WAIT="${RIG_BIND_WAIT:-60}"

# --- helpers (run inside step processes) ----------------------------------------------------------

die() { echo "DETAIL: $*"; exit 1; }

NO_DEV="no connected namespace (the connect step failed)"
ns() { cat "$STATE/ns" 2>/dev/null; }
ctrl() { cat "$STATE/ctrl" 2>/dev/null; }

# The controller (nvmeN) connected over TCP to subsystem $1, if any.
find_ctrl() {
    for c in /sys/class/nvme/nvme*; do
        [ -e "$c/subsysnqn" ] || continue
        [ "$(cat "$c/subsysnqn")" = "$1" ] && [ "$(cat "$c/transport")" = tcp ] && { basename "$c"; return 0; }
    done
    return 1
}

# The block device of the namespace with NSID $2 (default 1) behind controller $1: nvmeNnY without
# multipath, or the multipath head nvmeMnY in the subsystem directory (nvmeNcXnY path devices have no
# /dev node). Matched by the device's sysfs nsid, not by its name: Y is an index, not the NSID.
find_ns() {
    want=${2:-1}
    for d in /sys/class/nvme/"$1"/nvme*n* /sys/class/nvme/"$1"/device/nvme*n* \
             /sys/class/nvme/"$1"/subsystem/nvme*n* /sys/class/nvme-subsystem/*/nvme*n*; do
        [ -e "$d" ] || continue
        b=$(basename "$d")
        case "$b" in *c*) continue ;; esac
        id=$(cat "$d/nsid" 2>/dev/null) || id=""
        [ -n "$id" ] || id=${b##*n}
        [ "$id" = "$want" ] || continue
        if [ -e "/sys/class/nvme-subsystem" ] && [ "${d#/sys/class/nvme-subsystem/}" != "$d" ]; then
            # Only accept a subsystem-level head if it belongs to this controller's subsystem.
            s=$(dirname "$d")
            [ -e "$s/$1" ] || continue
        fi
        [ -b "/dev/$b" ] && { echo "$b"; return 0; }
    done
    return 1
}

lba_size() { cat "/sys/block/$(ns)/queue/logical_block_size"; }

# A deterministic pattern of $2 MiB seeded by $1, written to file $3.
make_pattern() {
    yes "vvolgate-rig $1 0123456789abcdefghijklmnopqrstuvwxyz" | head -c $(($2 * 1048576)) > "$3"
}

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

read_region() { # MiB offset, MiB count, out file
    read_dev "$(ns)" "$@"
}

write_region() { # MiB offset, in file
    write_dev "$(ns)" "$@"
}

read_dev() { # device, MiB offset, MiB count, out file
    dd if="/dev/$1" of="$4" bs=1M skip="$2" count="$3" iflag=direct 2>/dev/null \
        || die "dd read of ${3}MiB at ${2}MiB of $1 failed"
    [ "$(stat -c %s "$4")" -eq $(($3 * 1048576)) ] || die "short read at ${2}MiB of $1"
}

write_dev() { # device, MiB offset, in file
    dd if="$3" of="/dev/$1" bs=1M seek="$2" oflag=direct conv=notrunc,fsync 2>/dev/null \
        || die "dd write at ${2}MiB of $1 failed"
}

# sha256 of the persistence region of device $1. For v=$(...) || exit 1: a failure's DETAIL goes to stderr.
persist_sha() {
    read_dev "$1" "$PERSIST_OFFSET_MB" "$PERSIST_MB" "/tmp/region.$1" >&2 || exit 1
    sha_of "/tmp/region.$1"
}

# The device of NSID $1, as the namespaces step mapped it (for v=$(...) || exit 1, like persist_sha).
nsdev() {
    d=$(awk -v id="$1" '$1 == id { print $2 }' "$STATE/nsmap" 2>/dev/null)
    [ -n "$d" ] || { echo "DETAIL: no device for NSID $1 (the namespaces step failed)" >&2; exit 1; }
    echo "$d"
}

# fio with verify; fails unless fio exits 0 AND the verify phase read back everything written.
run_fio() { # name, size MiB, extra args...
    # FIO_DEV (default: the connected namespace) and FIO_OUT (default /tmp/fio.out) let two run at once.
    name=$1 size=$2; shift 2
    out=${FIO_OUT:-/tmp/fio.out}
    fio --name="$name" --filename="/dev/${FIO_DEV:-$(ns)}" --direct=1 --ioengine=libaio --iodepth=16 \
        --size="${size}m" --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_dump=0 \
        --output-format=normal,terse --terse-version=3 "$@" > "$out" 2>&1
    rc=$?
    cat "$out"
    [ "$rc" -eq 0 ] || die "fio exit $rc: $(grep -E '^fio: |verify|err=' "$out" | head -n 3 | tr '\n' ' ')"
    # terse v3: field 5 = error, field 6 = read KiB (the verify reads), summed over jobs
    grep '^3;' "$out" | awk -F';' -v want=$((size * 1024)) '
        { err += $5; rd += $6 }
        END { if (err != 0) { print "DETAIL: fio error " err; exit 1 }
              if (rd < want) { print "DETAIL: verify read only " rd " KiB of " want; exit 1 }
              print "DETAIL: verified " rd " KiB" }' || exit 1
}

# --- steps ------------------------------------------------------------------------------------------

step_discover() {
    nvme discover -t tcp -a "$TARGET" -s "$RIG_DISC_PORT" > /tmp/disc.out 2>&1
    rc=$?
    cat /tmp/disc.out
    [ "$rc" -eq 0 ] || die "nvme discover exit $rc"
    grep -q "subnqn: *$RIG_NQN\$" /tmp/disc.out || die "subsystem $RIG_NQN not in the discovery log"
}

step_discover_io_port() {
    grep -q 'Discovery Log Number of Records' /tmp/disc.out 2>/dev/null || die "no discovery log (discover failed)"
    # The log entry for our subsystem must name the I/O port (its address is the appliance's own).
    awk -v nqn="$RIG_NQN" '
        /^=+Discovery Log Entry/ { port = "" }
        /^trsvcid:/ { port = $2 }
        /^subnqn:/ && $2 == nqn { print port }' /tmp/disc.out > /tmp/disc.ports
    cat /tmp/disc.ports
    grep -qx "$RIG_IO_PORT" /tmp/disc.ports || die "entry for $RIG_NQN lists trsvcid '$(tr '\n' ' ' < /tmp/disc.ports)', expected $RIG_IO_PORT"
}

step_connect() { # extra nvme connect args
    rm -f "$STATE/ctrl" "$STATE/ns"
    # shellcheck disable=SC2086
    nvme connect -t tcp -a "$TARGET" -s "$RIG_IO_PORT" -n "$RIG_NQN" $CONNECT_OPTS "$@"
    rc=$?
    [ "$rc" -eq 0 ] || die "nvme connect $* exit $rc"
    i=0
    while [ $i -lt 40 ]; do
        c=$(find_ctrl "$RIG_NQN") && n=$(find_ns "$c") && break
        sleep 0.5; i=$((i + 1))
    done
    [ -n "$c" ] || die "no TCP controller for $RIG_NQN in sysfs after connect"
    [ -n "$n" ] || die "controller $c has no namespace block device after 20 s"
    echo "$c" > "$STATE/ctrl"; echo "$n" > "$STATE/ns"
    for a in state transport address queue_count sqsize; do
        [ -e "/sys/class/nvme/$c/$a" ] && echo "$a=$(cat "/sys/class/nvme/$c/$a")"
    done
    echo "DETAIL: $c $n $(cat "/sys/class/nvme/$c/address" 2>/dev/null | tr '\n' ' ')"
}

step_queue_count() { # expected I/O queues
    c=$(ctrl) || die "$NO_DEV"
    if [ -e "/sys/class/nvme/$c/queue_count" ]; then
        q=$(cat "/sys/class/nvme/$c/queue_count")
        [ "$q" -eq $(($1 + 1)) ] || die "queue_count $q, expected $(($1 + 1)) (admin + $1 I/O)"
        echo "DETAIL: queue_count $q"
    else
        # Debian 12's 6.1 has it; older kernels do not.
        echo "DETAIL: this kernel has no queue_count attribute; not checked"
    fi
}

step_list() {
    n=$(ns) || die "$NO_DEV"
    nvme list > /tmp/list.out 2>&1; rc=$?
    cat /tmp/list.out
    [ "$rc" -eq 0 ] || die "nvme list exit $rc"
    grep -q "/dev/$n" /tmp/list.out || die "/dev/$n not listed"
}

step_id_ctrl() {
    c=$(ctrl) || die "$NO_DEV"
    nvme id-ctrl "/dev/$c" > /tmp/idctrl.out 2>&1; rc=$?
    cat /tmp/idctrl.out
    [ "$rc" -eq 0 ] || die "nvme id-ctrl exit $rc"
    grep -q "^subnqn *: *$RIG_NQN\$" /tmp/idctrl.out || die "id-ctrl subnqn is not $RIG_NQN"
    grep -q "^sn *: *[^ ]" /tmp/idctrl.out || die "id-ctrl has no serial number"
    echo "DETAIL: $(grep -E '^(sn|mn|fr) ' /tmp/idctrl.out | tr -s ' ' | tr '\n' ' ')"
}

step_id_ns() {
    n=$(ns) || die "$NO_DEV"
    nvme id-ns "/dev/$n" > /tmp/idns.out 2>&1; rc=$?
    cat /tmp/idns.out
    [ "$rc" -eq 0 ] || die "nvme id-ns exit $rc"
    nsze=$(awk -F: '/^nsze/ { gsub(/ /, "", $2); print $2 }' /tmp/idns.out)
    [ -n "$nsze" ] && [ "$((nsze))" -gt 0 ] || die "id-ns nsze '$nsze'"
    bytes=$(($(cat "/sys/block/$n/size") * 512))
    echo "DETAIL: nsze $nsze, $bytes bytes, lba $(lba_size)"
}

# Reports the NGUID (id-ns) and UUID (ns-descs) into $STATE/ids; at least one must be set.
step_ns_descs() {
    n=$(ns) || die "$NO_DEV"
    nvme ns-descs "/dev/$n" > /tmp/descs.out 2>&1; rc=$?
    cat /tmp/descs.out
    [ "$rc" -eq 0 ] || die "nvme ns-descs exit $rc"
    nvme id-ns "/dev/$n" > /tmp/idns2.out 2>&1 || die "nvme id-ns exit $?"
    nguid=$(awk -F: '/^nguid/ { gsub(/ /, "", $2); print $2 }' /tmp/idns2.out)
    dnguid=$(awk -F: '/^nguid/ { gsub(/ /, "", $2); print $2 }' /tmp/descs.out)
    uuid=$(awk -F: '/^uuid/ { gsub(/ /, "", $2); print $2 }' /tmp/descs.out)
    case "$nguid" in *[1-9a-fA-F]*) ;; *) nguid="" ;; esac
    [ -z "$dnguid" ] || [ -z "$nguid" ] || [ "$dnguid" = "$nguid" ] || die "ns-descs NGUID $dnguid != id-ns NGUID $nguid"
    [ -n "$nguid" ] || nguid="$dnguid"
    [ -n "$nguid" ] || [ -n "$uuid" ] || die "namespace reports neither an NGUID nor a UUID"
    printf 'nguid %s\nuuid %s\n' "${nguid:--}" "${uuid:--}" > "$STATE/ids"
    echo "DETAIL: nguid ${nguid:--} uuid ${uuid:--}"
}

step_ns_ids_stable() {
    step_ns_descs > /tmp/ids.out || { cat /tmp/ids.out; exit 1; }
    nguid=$(awk '$1 == "nguid" { print $2 }' "$STATE/ids")
    uuid=$(awk '$1 == "uuid" { print $2 }' "$STATE/ids")
    [ "$nguid" = "${RIG_EXPECT_NGUID:--}" ] || die "NGUID $nguid, boot 1 had ${RIG_EXPECT_NGUID:--}"
    [ "$uuid" = "${RIG_EXPECT_UUID:--}" ] || die "UUID $uuid, boot 1 had ${RIG_EXPECT_UUID:--}"
    echo "DETAIL: nguid $nguid uuid $uuid"
}

step_ana_log() {
    c=$(ctrl) || die "$NO_DEV"
    nvme ana-log "/dev/$c"; rc=$?
    [ "$rc" -eq 0 ] || die "nvme ana-log exit $rc"
}

step_smart_log() {
    c=$(ctrl) || die "$NO_DEV"
    nvme smart-log "/dev/$c"; rc=$?
    [ "$rc" -eq 0 ] || die "nvme smart-log exit $rc"
}

step_fio_randwrite_4k() {
    ns > /dev/null || die "$NO_DEV"
    run_fio randwrite-4k "$FIO_MB" --rw=randwrite --bs=4k --offset=0
}

step_fio_mixed() {
    ns > /dev/null || die "$NO_DEV"
    # shellcheck disable=SC2086
    run_fio mixed-4k-256k "$FIO_MB" $MIXED_JOB
}

# Short mixed-size verify over both CPUs (and so over every I/O queue), for the extra connects.
step_fio_small() {
    ns > /dev/null || die "$NO_DEV"
    run_fio small 16 --rw=randwrite --offset="${SMALL_IO_OFFSET_MB}m" --numjobs=2 --offset_increment=8m \
        --size=8m --bssplit=4k/50:64k/25:256k/25 --cpus_allowed_policy=split --cpus_allowed=0-1
}

step_flush() {
    n=$(ns) || die "$NO_DEV"
    nvme flush "/dev/$n"; rc=$?
    [ "$rc" -eq 0 ] || die "nvme flush exit $rc"
}

step_write_zeroes() {
    n=$(ns) || die "$NO_DEV"
    ls=$(lba_size)
    # 2 MiB of pattern; zero the first MiB; the second must be untouched.
    make_pattern zeroes 2 /tmp/pat2m
    write_region "$ZEROES_OFFSET_MB" /tmp/pat2m
    read_region "$ZEROES_OFFSET_MB" 2 /tmp/before
    cmp -s /tmp/pat2m /tmp/before || die "pattern did not read back before write-zeroes"
    slba=$((ZEROES_OFFSET_MB * 1048576 / ls)) nlb=$((1048576 / ls))
    nvme write-zeroes "/dev/$n" -s "$slba" -c $((nlb - 1)); rc=$?
    [ "$rc" -eq 0 ] || die "nvme write-zeroes exit $rc"
    read_region "$ZEROES_OFFSET_MB" 2 /tmp/after
    head -c 1048576 /dev/zero > /tmp/zero1m
    head -c 1048576 /tmp/after > /tmp/after.head
    tail -c 1048576 /tmp/after > /tmp/after.tail
    tail -c 1048576 /tmp/pat2m > /tmp/pat2m.tail
    cmp /tmp/after.head /tmp/zero1m || die "range is not zero after write-zeroes (slba $slba, $nlb blocks)"
    cmp /tmp/after.tail /tmp/pat2m.tail || die "write-zeroes changed blocks after the range"
    echo "DETAIL: slba $slba nlb $nlb read back as zeros, next MiB intact"
}

step_compare_equal() {
    n=$(ns) || die "$NO_DEV"
    ls=$(lba_size)
    make_pattern compare 1 /tmp/cmp1m
    head -c 4096 /tmp/cmp1m > /tmp/cmp.bin
    write_region "$COMPARE_OFFSET_MB" /tmp/cmp1m
    slba=$((COMPARE_OFFSET_MB * 1048576 / ls))
    nvme compare "/dev/$n" -s "$slba" -c $((4096 / ls - 1)) -z 4096 -d /tmp/cmp.bin; rc=$?
    [ "$rc" -eq 0 ] || die "nvme compare of identical data exit $rc"
}

step_compare_unequal() {
    n=$(ns) || die "$NO_DEV"
    ls=$(lba_size)
    [ -f /tmp/cmp.bin ] || die "compare-equal did not prepare the region"
    # Same data with one byte flipped in the last logical block.
    { head -c 4095 /tmp/cmp.bin; printf 'Z'; } > /tmp/cmpbad.bin
    cmp -s /tmp/cmp.bin /tmp/cmpbad.bin && die "test data not different"
    slba=$((COMPARE_OFFSET_MB * 1048576 / ls))
    nvme compare "/dev/$n" -s "$slba" -c $((4096 / ls - 1)) -z 4096 -d /tmp/cmpbad.bin > /tmp/cmp.out 2>&1; rc=$?
    cat /tmp/cmp.out
    [ "$rc" -ne 0 ] || die "nvme compare of different data succeeded"
    grep -q 'Compare Failure' /tmp/cmp.out || die "failed without a Compare Failure status (exit $rc)"
    echo "DETAIL: $(grep 'NVMe status' /tmp/cmp.out)"
}

step_dsm_deallocate() {
    n=$(ns) || die "$NO_DEV"
    ls=$(lba_size)
    make_pattern dsm 1 /tmp/dsm1m
    write_region "$DSM_OFFSET_MB" /tmp/dsm1m
    slba=$((DSM_OFFSET_MB * 1048576 / ls)) nlb=$((1048576 / ls))
    nvme dsm "/dev/$n" --ad -s "$slba" -b "$nlb"; rc=$?
    [ "$rc" -eq 0 ] || die "nvme dsm --ad exit $rc"
    # A deallocated range may read as anything the namespace's DLFEAT allows; just prove it is readable.
    read_region "$DSM_OFFSET_MB" 1 /tmp/dsmafter
    echo "DETAIL: deallocated slba $slba nlb $nlb"
}

step_persist_write() {
    ns > /dev/null || die "$NO_DEV"
    make_pattern "persist-${RIG_PERSIST_TOKEN:-none}" "$PERSIST_MB" /tmp/persist.bin
    write_region "$PERSIST_OFFSET_MB" /tmp/persist.bin
    nvme flush "/dev/$(ns)" || die "nvme flush after the pattern exit $?"
    read_region "$PERSIST_OFFSET_MB" "$PERSIST_MB" /tmp/persist.read
    sha=$(sha_of /tmp/persist.bin)
    [ "$(sha_of /tmp/persist.read)" = "$sha" ] || die "pattern did not read back"
    echo "persist_sha256 $sha" >> "$STATE/values"
    echo "DETAIL: ${PERSIST_MB}MiB at ${PERSIST_OFFSET_MB}MiB sha256 $sha"
}

step_persist_read() {
    ns > /dev/null || die "$NO_DEV"
    [ -n "${RIG_EXPECT_PERSIST_SHA256:-}" ] || die "no expected checksum from boot 1"
    read_region "$PERSIST_OFFSET_MB" "$PERSIST_MB" /tmp/persist.read
    sha=$(sha_of /tmp/persist.read)
    [ "$sha" = "$RIG_EXPECT_PERSIST_SHA256" ] || die "sha256 $sha, boot 1 wrote $RIG_EXPECT_PERSIST_SHA256"
    echo "DETAIL: sha256 $sha"
}

# --- verify phase: the snapshot (NSID 2) and the linked clone (NSID 3) of the volume (NSID 1) -------

# Maps NSIDs 1-3 to block devices ($STATE/nsmap) and shows them; all three exist at connect time.
step_namespaces() {
    c=$(ctrl) || die "$NO_DEV"
    rm -f "$STATE/nsmap"
    i=0
    while :; do
        : > /tmp/nsmap
        missing=""
        for id in $NSID_VOLUME $NSID_SNAP $NSID_CLONE; do
            d=$(find_ns "$c" "$id") && echo "$id $d" >> /tmp/nsmap || missing="$missing $id"
        done
        [ -z "$missing" ] && break
        if [ $i -ge 40 ]; then
            ls /sys/class/nvme/"$c" /sys/class/nvme-subsystem/*/ 2>&1
            nvme list 2>&1
            die "NSID(s)$missing have no block device behind $c after 20 s"
        fi
        sleep 0.5; i=$((i + 1))
    done
    nvme list > /tmp/list3.out 2>&1 || { cat /tmp/list3.out; die "nvme list exit $?"; }
    sed 's/^/SHOW: /' /tmp/list3.out
    detail="" ids=""
    vsize=$(cat "/sys/block/$(awk '$1 == 1 { print $2 }' /tmp/nsmap)/size")
    while read -r id d; do
        grep -q "^/dev/$d " /tmp/list3.out || die "/dev/$d (NSID $id) not in nvme list"
        got=$(nvme get-ns-id "/dev/$d" 2>&1) || die "nvme get-ns-id /dev/$d: $got"
        [ "$(echo "$got" | sed 's/.*[^0-9]\([0-9][0-9]*\)[^0-9]*$/\1/')" = "$id" ] || die "/dev/$d: '$got', expected NSID $id"
        nvme id-ns "/dev/$d" > /tmp/idns.$d 2>&1 || { cat /tmp/idns.$d; die "nvme id-ns /dev/$d exit $?"; }
        nguid=$(awk -F: '/^nguid/ { gsub(/ /, "", $2); print $2 }' /tmp/idns.$d)
        nsattr=$(awk -F: '/^nsattr/ { gsub(/ /, "", $2); print $2 }' /tmp/idns.$d)
        size=$(cat "/sys/block/$d/size")
        ro=$(cat "/sys/block/$d/ro")
        echo "SHOW: NSID $id /dev/$d $((size * 512)) bytes nguid $nguid nsattr $nsattr ro $ro"
        [ "$size" = "$vsize" ] || die "/dev/$d (NSID $id) has $size sectors, the volume $vsize"
        case " $ids " in *" $nguid "*) die "NSID $id has the NGUID $nguid of another namespace" ;; esac
        ids="$ids $nguid"
        detail="$detail nsid$id=$d${ro:+(ro=$ro)}"
    done < /tmp/nsmap
    mv /tmp/nsmap "$STATE/nsmap"
    echo "DETAIL:$detail"
}

# The snapshot holds what boot 1 left on the volume: the persisted pattern and a MiB of each other region.
step_snap_same_as_volume() {
    v=$(nsdev $NSID_VOLUME) || exit 1
    s=$(nsdev $NSID_SNAP) || exit 1
    want="${RIG_EXPECT_PERSIST_SHA256:-}"
    [ -n "$want" ] || die "no expected checksum from boot 1"
    ss=$(persist_sha "$s") || exit 1
    vs=$(persist_sha "$v") || exit 1
    [ "$ss" = "$want" ] || die "snapshot $s reads sha256 $ss at ${PERSIST_OFFSET_MB}MiB, boot 1 wrote $want"
    [ "$vs" = "$want" ] || die "volume $v reads sha256 $vs at ${PERSIST_OFFSET_MB}MiB, boot 1 wrote $want"
    for off in $SAME_OFFSETS_MB; do
        read_dev "$v" "$off" 1 /tmp/same.v || exit 1
        read_dev "$s" "$off" 1 /tmp/same.s || exit 1
        cmp /tmp/same.v /tmp/same.s || die "snapshot and volume differ in the MiB at ${off}MiB"
    done
    echo "DETAIL: sha256 $ss on $s and $v; equal at MiB$(echo " $SAME_OFFSETS_MB" | tr -s ' ')"
}

# A new pattern over the persistence region of the volume: the volume reads it, the snapshot does not.
step_volume_changes_snap_intact() {
    v=$(nsdev $NSID_VOLUME) || exit 1
    s=$(nsdev $NSID_SNAP) || exit 1
    old="${RIG_EXPECT_PERSIST_SHA256:-}"
    [ -n "$old" ] || die "no expected checksum from boot 1"
    make_pattern "volume-after-snapshot-${RIG_PERSIST_TOKEN:-none}" "$PERSIST_MB" /tmp/changed.bin
    new=$(sha_of /tmp/changed.bin)
    [ "$new" != "$old" ] || die "new pattern equals boot 1's"
    write_dev "$v" "$PERSIST_OFFSET_MB" /tmp/changed.bin || exit 1
    nvme flush "/dev/$v" || die "nvme flush /dev/$v exit $?"
    vs=$(persist_sha "$v") || exit 1
    ss=$(persist_sha "$s") || exit 1
    [ "$vs" = "$new" ] || die "volume reads sha256 $vs after the write of $new"
    [ "$ss" = "$old" ] || die "snapshot changed with the volume: sha256 $ss, was $old"
    echo "DETAIL: volume $new, snapshot still $old"
}

# Writes to the snapshot fail: a dd through the block layer, and an NVMe Write (expects the status
# Namespace is Write Protected); the snapshot's data is unchanged afterwards.
step_snap_read_only() {
    s=$(nsdev $NSID_SNAP) || exit 1
    old="${RIG_EXPECT_PERSIST_SHA256:-}"
    ro=$(cat "/sys/block/$s/ro")
    ls=$(cat "/sys/block/$s/queue/logical_block_size")
    make_pattern "snapshot-write-${RIG_PERSIST_TOKEN:-none}" 1 /tmp/snapw.bin
    if dd if=/tmp/snapw.bin of="/dev/$s" bs=1M seek="$PERSIST_OFFSET_MB" oflag=direct conv=notrunc,fsync > /tmp/snapdd.out 2>&1; then
        cat /tmp/snapdd.out
        die "dd write to the snapshot $s succeeded"
    fi
    cat /tmp/snapdd.out
    ddwhy=$(grep -v 'records\|copied' /tmp/snapdd.out | head -n 1)
    head -c 4096 /tmp/snapw.bin > /tmp/snapw4k.bin
    slba=$((PERSIST_OFFSET_MB * 1048576 / ls))
    nvme write "/dev/$s" -s "$slba" -c $((4096 / ls - 1)) -z 4096 -d /tmp/snapw4k.bin > /tmp/snapnvme.out 2>&1; rc=$?
    cat /tmp/snapnvme.out
    [ "$rc" -ne 0 ] || die "nvme write to the snapshot $s succeeded"
    grep -qi 'write protected' /tmp/snapnvme.out \
        || die "nvme write failed (exit $rc) without a Namespace is Write Protected status: $(head -n 2 /tmp/snapnvme.out | tr '\n' ' ')"
    ss=$(persist_sha "$s") || exit 1
    [ -z "$old" ] || [ "$ss" = "$old" ] || die "snapshot data changed by the refused writes: sha256 $ss, was $old"
    echo "DETAIL: kernel ro=$ro; dd: ${ddwhy:-failed}; nvme write: $(grep -i 'NVMe status' /tmp/snapnvme.out | head -n 1)"
}

# The clone starts as the snapshot, takes a write, and neither the snapshot nor the volume sees it.
step_clone_writable() {
    v=$(nsdev $NSID_VOLUME) || exit 1
    s=$(nsdev $NSID_SNAP) || exit 1
    k=$(nsdev $NSID_CLONE) || exit 1
    old="${RIG_EXPECT_PERSIST_SHA256:-}"
    [ -n "$old" ] || die "no expected checksum from boot 1"
    ks=$(persist_sha "$k") || exit 1
    [ "$ks" = "$old" ] || die "clone $k reads sha256 $ks before any write, the snapshot was $old"
    vbefore=$(persist_sha "$v") || exit 1
    make_pattern "clone-${RIG_PERSIST_TOKEN:-none}" "$PERSIST_MB" /tmp/clone.bin
    new=$(sha_of /tmp/clone.bin)
    write_dev "$k" "$PERSIST_OFFSET_MB" /tmp/clone.bin || exit 1
    nvme flush "/dev/$k" || die "nvme flush /dev/$k exit $?"
    ks=$(persist_sha "$k") || exit 1
    ss=$(persist_sha "$s") || exit 1
    vs=$(persist_sha "$v") || exit 1
    [ "$ks" = "$new" ] || die "clone reads sha256 $ks after the write of $new"
    [ "$ss" = "$old" ] || die "the clone's write changed the snapshot: sha256 $ss, was $old"
    [ "$vs" = "$vbefore" ] || die "the clone's write changed the volume: sha256 $vs, was $vbefore"
    echo "DETAIL: clone read $old, then wrote $new; snapshot and volume unchanged"
}

# Boot 1's fio-mixed job replayed with --verify_only on the snapshot (every block fio wrote in boot 1
# must carry its header and checksum) while another fio job rewrites that region of the volume.
step_snap_fio_verify_readonly() {
    v=$(nsdev $NSID_VOLUME) || exit 1
    s=$(nsdev $NSID_SNAP) || exit 1
    t0=$(date +%s)
    # shellcheck disable=SC2086
    ( FIO_DEV=$v; FIO_OUT=/tmp/fio-volume.out
      ( run_fio volume-rewrite "$FIO_MB" --rw=randwrite --offset="${FIO_MIXED_OFFSET_MB}m" --bs=128k \
          --randseed=20261124 ) > /tmp/fio-volume.log 2>&1
      echo $? > /tmp/fio-volume.rc ) &
    writer=$!
    # shellcheck disable=SC2086
    ( FIO_DEV=$s; FIO_OUT=/tmp/fio-snap.out; run_fio mixed-4k-256k "$FIO_MB" $MIXED_JOB --verify_only ) > /tmp/fio-snap.log 2>&1
    snap_rc=$?
    t1=$(date +%s)
    wait "$writer"
    t2=$(date +%s)
    echo "--- snapshot verify_only (exit $snap_rc)"; cat /tmp/fio-snap.log
    echo "--- volume rewrite (exit $(cat /tmp/fio-volume.rc 2>/dev/null))"; cat /tmp/fio-volume.log
    [ "$snap_rc" -eq 0 ] || die "snapshot verify: $(grep '^DETAIL: ' /tmp/fio-snap.log | tail -n 1 | cut -c9-)"
    [ "$(cat /tmp/fio-volume.rc 2>/dev/null)" = 0 ] || die "volume rewrite: $(grep '^DETAIL: ' /tmp/fio-volume.log | tail -n 1 | cut -c9-)"
    echo "DETAIL: snapshot $(grep '^DETAIL: ' /tmp/fio-snap.log | tail -n 1 | cut -c9-) of boot 1's ${FIO_MB}MiB at ${FIO_MIXED_OFFSET_MB}MiB in $((t1 - t0))s while the volume's was rewritten and verified ($((t2 - t0))s)"
}

step_disconnect() {
    c=$(ctrl) || die "$NO_DEV"
    nvme disconnect -n "$RIG_NQN" > /tmp/disconnect.out 2>&1; rc=$?
    cat /tmp/disconnect.out
    [ "$rc" -eq 0 ] || die "nvme disconnect exit $rc"
    grep -q "disconnected 1 controller" /tmp/disconnect.out || die "$(cat /tmp/disconnect.out)"
    i=0
    while [ -e "/sys/class/nvme/$c" ] && [ $i -lt 20 ]; do sleep 0.5; i=$((i + 1)); done
    [ ! -e "/sys/class/nvme/$c" ] || die "$c still present after disconnect"
    rm -f "$STATE/ctrl" "$STATE/ns"
}

step_unknown_nqn_refused() {
    start=$(date +%s)
    # shellcheck disable=SC2086
    nvme connect -t tcp -a "$TARGET" -s "$RIG_IO_PORT" -n "$UNKNOWN_NQN" $CONNECT_OPTS > /tmp/unknown.out 2>&1
    rc=$?
    took=$(($(date +%s) - start))
    cat /tmp/unknown.out
    if [ "$rc" -eq 0 ]; then
        nvme disconnect -n "$UNKNOWN_NQN"
        die "connect to $UNKNOWN_NQN succeeded"
    fi
    c=$(find_ctrl "$UNKNOWN_NQN") && die "controller $c exists for $UNKNOWN_NQN"
    # Refused by the target, not by an unreachable port.
    grep -qi 'connection refused' /tmp/unknown.out && die "I/O port unreachable (connection refused), not a refused Connect"
    why=$(dmesg | grep -i 'connect' | grep -v 'failed to connect socket' | tail -n 1 | sed 's/^\[[^]]*\] //')
    echo "DETAIL: refused (exit $rc) in ${took}s; kernel: ${why:-nothing logged}"
}

# --- bind phase: volumes bound and unbound through the API, seen by a connected host ------------------
#
# Controllers to the protocol endpoint subsystem: this host's ($STATE/pe_ctrl, its RIG_HOST_NQN), the
# second host's ($STATE/pe_ctrl2), and for a while a second one of this host with asynchronous events off
# ($STATE/pe_aen_off). With multipath they sit in one kernel subsystem, whose shared namespace heads every
# controller of it lists; so a controller's namespaces are read from its own sysfs directory (its path or
# namespace devices) and, on the wire, from its Identify active namespace list.

# wait_for SECONDS COMMAND...: runs COMMAND every 0.5 s until it succeeds; fails after SECONDS.
wait_for() {
    limit=$(($1 * 2)); shift
    waited=0
    until "$@"; do
        [ "$waited" -ge "$limit" ] && return 1
        sleep 0.5; waited=$((waited + 1))
    done
}

# The TCP controller to subsystem $1 whose host NQN is $2.
find_ctrl_of() {
    for c in /sys/class/nvme/nvme*; do
        [ -e "$c/subsysnqn" ] || continue
        [ "$(cat "$c/subsysnqn")" = "$1" ] && [ "$(cat "$c/transport")" = tcp ] \
            && [ "$(cat "$c/hostnqn" 2>/dev/null)" = "$2" ] && { basename "$c"; return 0; }
    done
    return 1
}

# NSIDs the kernel has for controller $1 (its own sysfs devices), sorted, one a line; a device without
# an nsid attribute shows as ?<name>, so it still counts.
sysfs_nsids() {
    for d in /sys/class/nvme/"$1"/nvme*n*; do
        [ -e "$d" ] || continue
        if [ -e "$d/nsid" ]; then cat "$d/nsid"; else echo "?${d##*/}"; fi
    done | sort -n
}

# NSIDs controller $1 reports active on the wire (Identify, active namespace list), sorted, one a line.
wire_nsids() {
    nvme list-ns "/dev/$1" > /tmp/listns.$1 2>&1 || { cat /tmp/listns.$1 >&2; return 1; }
    sed -n 's/^\[ *[0-9]*\]: *\(0x[0-9a-fA-F]*\).*$/\1/p' /tmp/listns.$1 | while read -r h; do printf '%d\n' "$h"; done | sort -n
}

# Both views of controller $1's namespaces, as "sysfs=<ids> wire=<ids>", e.g. "sysfs=1,2 wire=1,2".
ns_views() {
    w=$(wire_nsids "$1") || return 1
    echo "sysfs=$(sysfs_nsids "$1" | paste -sd, -) wire=$(echo "$w" | paste -sd, -)"
}

# Controller $1 (recorded by record_ctrl in state file $2) exists, is live, still has the cntlid
# it had then and logged no reconnect, reset or removal since: the same association as at connect time.
same_controller() {
    [ -e "/sys/class/nvme/$1" ] || die "controller $1 is gone"
    st=$(cat "/sys/class/nvme/$1/state")
    [ "$st" = live ] || die "controller $1 is $st, not live"
    was=$(cat "$STATE/$2.cntlid")
    [ "$(cat "/sys/class/nvme/$1/cntlid")" = "$was" ] || die "controller $1 has cntlid $(cat "/sys/class/nvme/$1/cntlid"), was $was at connect (it reconnected)"
    # Only messages since the connect: an earlier controller (e.g. discovery's) may have had the same name.
    r=$(dmesg | tail -n +$(($(cat "$STATE/$2.dmesg") + 1)) \
        | grep -E "nvme $1: (Reconnecting|starting error recovery|Failed reconnect|resetting|Removing ctrl)" | head -n 1)
    [ -z "$r" ] || die "controller $1 reconnected or reset: $r"
}

pe_ctrl() { cat "$STATE/pe_ctrl" 2>/dev/null || { echo "DETAIL: no controller to $RIG_PE_NQN (pe-connect failed)" >&2; return 1; }; }
pe_ctrl2() { cat "$STATE/pe_ctrl2" 2>/dev/null || { echo "DETAIL: no second-host controller (pe-connect-second-host failed)" >&2; return 1; }; }
vol_nsid() { cat "$STATE/vol_nsid" 2>/dev/null || { echo "DETAIL: no bound volume (bind-volume-appears failed)" >&2; return 1; }; }
vol_dev() { cat "$STATE/vol_dev" 2>/dev/null || { echo "DETAIL: no bound volume (bind-volume-appears failed)" >&2; return 1; }; }
clone_nsid() { cat "$STATE/clone_nsid" 2>/dev/null || { echo "DETAIL: no bound clone (bind-clone-appears failed)" >&2; return 1; }; }
clone_dev() { cat "$STATE/clone_dev" 2>/dev/null || { echo "DETAIL: no bound clone (bind-clone-appears failed)" >&2; return 1; }; }

# The NGUID of block device $1 (32 lowercase hex digits).
nguid_of() {
    nvme id-ns "/dev/$1" 2>/dev/null | awk -F: '/^nguid/ { gsub(/ /, "", $2); print tolower($2) }'
}

step_pe_discover() {
    nvme discover -t tcp -a "$TARGET" -s "$RIG_DISC_PORT" > /tmp/disc.out 2>&1
    rc=$?
    cat /tmp/disc.out
    [ "$rc" -eq 0 ] || die "nvme discover exit $rc"
    grep -q "subnqn: *$RIG_PE_NQN\$" /tmp/disc.out || die "protocol endpoint subsystem $RIG_PE_NQN not in the discovery log"
}

# This host's controller, connected the way a user would: nvme connect with the host NQN of /etc/nvme.
step_pe_connect() {
    rm -f "$STATE/pe_ctrl" "$STATE/pe_ctrl.cntlid" "$STATE/pe_ctrl.dmesg"
    # shellcheck disable=SC2086
    nvme connect -t tcp -a "$TARGET" -s "$RIG_IO_PORT" -n "$RIG_PE_NQN" $CONNECT_OPTS
    rc=$?
    [ "$rc" -eq 0 ] || die "nvme connect -n $RIG_PE_NQN exit $rc"
    wait_for 20 find_ctrl_of "$RIG_PE_NQN" "$RIG_HOST_NQN" > /dev/null \
        || die "no TCP controller for $RIG_PE_NQN as $RIG_HOST_NQN (is /etc/nvme/hostnqn $(cat /etc/nvme/hostnqn)?)"
    record_ctrl "$(find_ctrl_of "$RIG_PE_NQN" "$RIG_HOST_NQN")" pe_ctrl
}

# Another controller to the endpoint, connected through the kernel's fabrics device: nvme-cli 2.3
# answers "already connected" for a second controller to a subsystem and address it already has, even
# with --duplicate-connect or another --hostnqn. $1: state file; $2: options (hostnqn=...,hostid=...).
step_pe_connect_fabrics() {
    rm -f "$STATE/$1" "$STATE/$1.cntlid" "$STATE/$1.dmesg"
    answer=$(fabrics_connect "$2") || die "connect through /dev/nvme-fabrics ($2) failed: $answer"
    instance=$(echo "$answer" | sed -n 's/^instance=\([0-9]*\),.*/\1/p')
    [ -n "$instance" ] || die "/dev/nvme-fabrics answered '$answer'"
    record_ctrl "nvme$instance" "$1"
}

# Writes one connect request to /dev/nvme-fabrics (the kernel parses a single write) and prints the
# kernel's answer, "instance=N,cntlid=M".
fabrics_connect() {
    opts="transport=tcp,traddr=$TARGET,trsvcid=$RIG_IO_PORT,nqn=$RIG_PE_NQN,ctrl_loss_tmo=20,reconnect_delay=2,$1"
    exec 4<>/dev/nvme-fabrics || return 1
    printf '%s' "$opts" >&4 || { exec 4>&-; return 1; }
    read -r answer <&4
    exec 4>&-
    echo "$answer"
}

# Waits for controller $1 to be live and keeps its name, cntlid and the dmesg position in state file $2.
record_ctrl() {
    c=$1
    wait_for 20 grep -qx live "/sys/class/nvme/$c/state" || die "$c is $(cat "/sys/class/nvme/$c/state" 2>&1), not live"
    [ "$(cat "/sys/class/nvme/$c/subsysnqn")" = "$RIG_PE_NQN" ] || die "$c is connected to $(cat "/sys/class/nvme/$c/subsysnqn")"
    echo "$c" > "$STATE/$2"
    cat "/sys/class/nvme/$c/cntlid" > "$STATE/$2.cntlid"
    dmesg | wc -l > "$STATE/$2.dmesg"
    echo "DETAIL: $c cntlid $(cat "$STATE/$2.cntlid") host $(cat "/sys/class/nvme/$c/hostnqn")"
}

# Neither controller has a namespace: the subsystem admits the hosts, but nothing is bound yet.
step_no_namespace_before_bind() {
    c=$(pe_ctrl) || exit 1
    c2=$(pe_ctrl2) || exit 1
    for x in "$c" "$c2"; do
        v=$(ns_views "$x") || die "nvme list-ns /dev/$x failed"
        [ "$v" = "sysfs= wire=" ] || die "$x has namespaces before any bind: $v"
    done
    echo "DETAIL: $c and $c2 have none (sysfs and Identify active namespace list)"
}

# The volume's namespace appears on this host's controller, which stays the same live association: the
# appliance's Namespace Attribute Changed event made the kernel rescan (nothing here rescans by hand).
step_bind_volume_appears() {
    c=$(pe_ctrl) || exit 1
    cntlid=$(cat "$STATE/pe_ctrl.cntlid")
    t0=$(date +%s)
    has_one() { [ -n "$(sysfs_nsids "$c")" ] && n=$(find_ns "$c" "$(sysfs_nsids "$c" | head -n 1)"); }
    wait_for "$BIND_WAIT" has_one || die "no namespace on $c ${BIND_WAIT}s after the bind ($(ns_views "$c"))"
    t1=$(date +%s)
    id=$(sysfs_nsids "$c")
    [ "$(echo "$id" | wc -l)" -eq 1 ] || die "$c has several namespaces after one bind: $(ns_views "$c")"
    wait_for 10 sh -c "nvme list-ns /dev/$c | grep -q ':0x0*$(printf '%x' "$id")\$'" \
        || die "NSID $id is in sysfs but not in $c's active namespace list ($(ns_views "$c"))"
    same_controller "$c" pe_ctrl
    nguid=$(nguid_of "$n")
    want=$(echo "${RIG_VOLUME_NGUID:-}" | tr -d '-' | tr 'A-F' 'a-f')
    [ "$nguid" = "$want" ] || die "/dev/$n has NGUID $nguid, the API's volume $want"
    bytes=$(($(cat "/sys/block/$n/size") * 512))
    [ "$bytes" = "${RIG_VOLUME_BYTES:-}" ] || die "/dev/$n has $bytes bytes, the API's volume ${RIG_VOLUME_BYTES:-?}"
    echo "$id" > "$STATE/vol_nsid"; echo "$n" > "$STATE/vol_dev"
    echo "bound_volume_nsid $id" >> "$STATE/values"
    dmesg | grep -E "nvme $c: |$n" | tail -n 5 | sed 's/^/SHOW: /'
    echo "DETAIL: NSID $id as /dev/$n after $((t1 - t0))s on $c (cntlid $cntlid, no reconnect); nguid $nguid, $bytes bytes"
}

step_fio_verify_bound() {
    n=$(vol_dev) || exit 1
    # shellcheck disable=SC2086
    FIO_DEV=$n run_fio bound-mixed "$BOUND_FIO_MB" $BOUND_JOB
}

step_pattern_write_bound() {
    n=$(vol_dev) || exit 1
    make_pattern "bound-${RIG_PERSIST_TOKEN:-none}" "$BOUND_PATTERN_MB" /tmp/bound.bin
    write_dev "$n" "$BOUND_PATTERN_OFFSET_MB" /tmp/bound.bin || exit 1
    nvme flush "/dev/$n" || die "nvme flush /dev/$n exit $?"
    read_dev "$n" "$BOUND_PATTERN_OFFSET_MB" "$BOUND_PATTERN_MB" /tmp/bound.read || exit 1
    sha=$(sha_of /tmp/bound.bin)
    [ "$(sha_of /tmp/bound.read)" = "$sha" ] || die "pattern did not read back from /dev/$n"
    echo "$sha" > "$STATE/bound_sha"
    echo "DETAIL: ${BOUND_PATTERN_MB}MiB at ${BOUND_PATTERN_OFFSET_MB}MiB sha256 $sha"
}

# The second host's controller has no namespace, and Identify Namespace of each NSID bound to this
# host answers it as inactive (all zeros) or invalid.
step_second_host_sees_nothing() {
    c2=$(pe_ctrl2) || exit 1
    same_controller "$c2" pe_ctrl2
    v=$(ns_views "$c2") || die "nvme list-ns /dev/$c2 failed"
    [ "$v" = "sysfs= wire=" ] || die "the second host's $c2 sees namespaces: $v"
    ids="$(cat "$STATE/vol_nsid" "$STATE/clone_nsid" 2>/dev/null)"
    [ -n "$ids" ] || die "no NSID bound to this host to look for (bind-volume-appears failed)"
    detail=""
    for id in $ids; do
        nvme id-ns "/dev/$c2" -n "$id" > /tmp/idns2.$id 2>&1; rc=$?
        if [ "$rc" -eq 0 ]; then
            nsze=$(awk -F: '/^nsze/ { gsub(/ /, "", $2); print $2 }' /tmp/idns2.$id)
            [ "$((nsze))" -eq 0 ] || { cat /tmp/idns2.$id; die "Identify Namespace $id through $c2 answers nsze $nsze"; }
            detail="$detail NSID $id inactive;"
        else
            cat /tmp/idns2.$id
            grep -qi 'invalid namespace' /tmp/idns2.$id || die "Identify Namespace $id through $c2 failed (exit $rc) without Invalid Namespace"
            detail="$detail NSID $id invalid;"
        fi
    done
    echo "DETAIL: $c2 has none;$detail"
}

# The clone of a snapshot taken after the writes appears beside the volume, on the same controller.
step_bind_clone_appears() {
    c=$(pe_ctrl) || exit 1
    vid=$(vol_nsid) || exit 1
    cntlid=$(cat "$STATE/pe_ctrl.cntlid")
    t0=$(date +%s)
    has_clone() {
        id=$(sysfs_nsids "$c" | grep -vx "$vid" | head -n 1)
        [ -n "$id" ] && k=$(find_ns "$c" "$id")
    }
    wait_for "$BIND_WAIT" has_clone || die "no second namespace on $c ${BIND_WAIT}s after the clone's bind ($(ns_views "$c"))"
    t1=$(date +%s)
    wait_for 10 sh -c "[ \"\$(nvme list-ns /dev/$c | grep -c ':0x')\" -eq 2 ]" \
        || die "$c's active namespace list does not show both namespaces ($(ns_views "$c"))"
    [ "$(sysfs_nsids "$c" | paste -sd, -)" = "$(printf '%s\n' "$vid" "$id" | sort -n | paste -sd, -)" ] \
        || die "$c has $(ns_views "$c"), expected the volume's $vid and the clone's $id"
    # In a subshell: find_ns sets variables of its own (id among them).
    ( find_ns "$c" "$vid" > /dev/null ) || die "the volume's NSID $vid lost its block device"
    same_controller "$c" pe_ctrl
    nguid=$(nguid_of "$k")
    echo "$id" > "$STATE/clone_nsid"; echo "$k" > "$STATE/clone_dev"
    printf 'bound_clone_nsid %s\nclone_nguid %s\n' "$id" "$nguid" >> "$STATE/values"
    echo "DETAIL: NSID $id as /dev/$k after $((t1 - t0))s on $c (cntlid $cntlid, no reconnect); nguid $nguid"
}

# The clone reads what the volume held when the snapshot was taken.
step_clone_same_data() {
    v=$(vol_dev) || exit 1
    k=$(clone_dev) || exit 1
    want=$(cat "$STATE/bound_sha" 2>/dev/null) || die "no pattern checksum (pattern-write-bound failed)"
    read_dev "$k" "$BOUND_PATTERN_OFFSET_MB" "$BOUND_PATTERN_MB" /tmp/clone.read || exit 1
    got=$(sha_of /tmp/clone.read)
    [ "$got" = "$want" ] || die "clone /dev/$k reads sha256 $got at ${BOUND_PATTERN_OFFSET_MB}MiB, the volume had $want"
    for off in 0 $((BOUND_FIO_MB / 2)); do
        read_dev "$v" "$off" 1 /tmp/same.v || exit 1
        read_dev "$k" "$off" 1 /tmp/same.k || exit 1
        cmp /tmp/same.v /tmp/same.k || die "clone and volume differ in the MiB at ${off}MiB"
    done
    echo "DETAIL: sha256 $got at ${BOUND_PATTERN_OFFSET_MB}MiB; equal to the volume at MiB 0 and $((BOUND_FIO_MB / 2))"
}

# The fio job of fio-verify-bound replayed with --verify_only on the clone: every block's header and crc32c.
step_clone_fio_verify_only() {
    k=$(clone_dev) || exit 1
    # shellcheck disable=SC2086
    FIO_DEV=$k run_fio bound-mixed "$BOUND_FIO_MB" $BOUND_JOB --verify_only
}

# One logical block of NSID $2 read (or written, $3 = write) by an NVMe command through block device $1
# (passthrough: the appliance answers it, not the block layer). Output: nvme-cli's.
io_to_nsid() {
    if [ "${3:-read}" = write ]; then
        head -c 512 /dev/zero > /tmp/blk.bin
        nvme io-passthru "/dev/$1" -n "$2" -o 1 -l 512 -6 0 -w -i /tmp/blk.bin 2>&1
    else
        nvme io-passthru "/dev/$1" -n "$2" -o 2 -l 512 -6 0 -r -b 2>&1 > /dev/null
    fi
}

# A third controller of this host ($STATE/pe_aen_off) with asynchronous events turned off (Set Features
# Asynchronous Event Configuration = 0), so the host is not told when the volume is unbound and keeps a
# path to it through this controller: that is how io-to-unbound-nsid-fails gets an NVMe command for the
# unbound NSID to the appliance (Linux refuses passthrough with an NSID other than the device's).
step_path_without_aen() {
    vid=$(vol_nsid) || exit 1
    kid=$(clone_nsid) || exit 1
    n=$(vol_dev) || exit 1
    ( step_pe_connect_fabrics pe_aen_off "hostnqn=$RIG_HOST_NQN,hostid=$(cat /etc/nvme/hostid),duplicate_connect" ) \
        > /tmp/aenoff.out 2>&1 || { cat /tmp/aenoff.out; exit 1; }
    c3=$(cat "$STATE/pe_aen_off")
    both() { [ "$(sysfs_nsids "$c3" | paste -sd, -)" = "$(printf '%s\n' "$vid" "$kid" | sort -n | paste -sd, -)" ]; }
    wait_for 20 both || die "$c3 does not show the volume's and the clone's NSIDs after connect ($(ns_views "$c3"))"
    nvme set-feature "/dev/$c3" -f 0x0b -v 0 > /tmp/aec.out 2>&1 || { cat /tmp/aec.out; die "set-feature 0x0b (async event config) on $c3 failed"; }
    nvme get-feature "/dev/$c3" -f 0x0b > /tmp/aec.out 2>&1 || { cat /tmp/aec.out; die "get-feature 0x0b on $c3 failed"; }
    grep -qiE 'current value: *(0x)?0+$' /tmp/aec.out || die "async event config of $c3 reads back as $(cat /tmp/aec.out)"
    out=$(io_to_nsid "$n" "$vid"); rc=$?
    echo "$out"
    [ "$rc" -eq 0 ] || die "read of the bound NSID $vid through /dev/$n failed (exit $rc): $(echo "$out" | head -n 2 | tr '\n' ' ')"
    echo "DETAIL: $c3 (cntlid $(cat "$STATE/pe_aen_off.cntlid")) has NSIDs $vid,$kid with asynchronous events off; read of NSID $vid ok"
}

# The volume's namespace leaves this host's controller; the clone stays; the controller is the same.
# The controller without asynchronous events no longer lists it either (its Identify active namespace
# list comes from the appliance), though the kernel keeps its path (nothing told it).
step_unbind_volume_disappears() {
    c=$(pe_ctrl) || exit 1
    vid=$(vol_nsid) || exit 1
    kid=$(clone_nsid) || exit 1
    t0=$(date +%s)
    gone() { ! sysfs_nsids "$c" | grep -qx "$vid"; }
    wait_for "$BIND_WAIT" gone || die "NSID $vid still on $c ${BIND_WAIT}s after the unbind ($(ns_views "$c"))"
    t1=$(date +%s)
    v=$(ns_views "$c") || die "nvme list-ns /dev/$c failed"
    [ "$v" = "sysfs=$kid wire=$kid" ] || die "after the volume's unbind $c has $v, expected only the clone's NSID $kid"
    same_controller "$c" pe_ctrl
    detail="NSID $vid gone from $c after $((t1 - t0))s; $c has $v (cntlid $(cat "$STATE/pe_ctrl.cntlid"), no reconnect)"
    if c3=$(cat "$STATE/pe_aen_off" 2>/dev/null); then
        w=$(wire_nsids "$c3" | paste -sd, -) || die "nvme list-ns /dev/$c3 failed"
        [ "$w" = "$kid" ] || die "the appliance still lists NSIDs $w as active for $c3, expected only $kid"
        detail="$detail; $c3 lists $w on the wire"
    fi
    echo "DETAIL: $detail"
}

# Read and write of the unbound NSID reach the appliance through the path the host kept, and fail with
# Invalid Namespace; then that controller goes and the volume's namespace is gone from the host.
step_io_to_unbound_nsid_fails() {
    vid=$(vol_nsid) || exit 1
    n=$(vol_dev) || exit 1
    c3=$(cat "$STATE/pe_aen_off" 2>/dev/null) || die "no controller without asynchronous events (path-without-aen failed)"
    [ -b "/dev/$n" ] || die "/dev/$n is gone already: $c3 dropped its path though asynchronous events are off"
    why=""
    for op in read write; do
        out=$(io_to_nsid "$n" "$vid" $op); rc=$?
        echo "$out"
        [ "$rc" -ne 0 ] || die "$op of the unbound NSID $vid through /dev/$n succeeded"
        echo "$out" | grep -qi 'invalid namespace' \
            || die "$op of the unbound NSID $vid failed (exit $rc) without Invalid Namespace: $(echo "$out" | head -n 2 | tr '\n' ' ')"
        why="$why $op: $(echo "$out" | grep -i 'invalid namespace' | head -n 1);"
    done
    nvme disconnect -d "$c3" > /tmp/disc3.out 2>&1 || { cat /tmp/disc3.out; die "nvme disconnect -d $c3 exit $?"; }
    rm -f "$STATE/pe_aen_off"
    wait_for 20 sh -c "[ ! -b /dev/$n ]" || die "/dev/$n still exists after $c3 disconnected"
    echo "DETAIL:$why /dev/$n gone with $c3"
}

step_unbind_clone_disappears() {
    c=$(pe_ctrl) || exit 1
    k=$(clone_dev) || exit 1
    cntlid=$(cat "$STATE/pe_ctrl.cntlid")
    t0=$(date +%s)
    none() { [ -z "$(sysfs_nsids "$c")" ] && [ ! -b "/dev/$k" ]; }
    wait_for "$BIND_WAIT" none || die "$c still has namespaces ${BIND_WAIT}s after the clone's unbind ($(ns_views "$c"))"
    t1=$(date +%s)
    v=$(ns_views "$c") || die "nvme list-ns /dev/$c failed"
    [ "$v" = "sysfs= wire=" ] || die "after both unbinds $c has $v"
    same_controller "$c" pe_ctrl
    echo "DETAIL: /dev/$k gone after $((t1 - t0))s; $c has none (cntlid $cntlid, no reconnect)"
}

step_pe_disconnect() {
    c=$(pe_ctrl) || exit 1
    c2=$(pe_ctrl2) || exit 1
    nvme disconnect -n "$RIG_PE_NQN" > /tmp/disconnect.out 2>&1; rc=$?
    cat /tmp/disconnect.out
    [ "$rc" -eq 0 ] || die "nvme disconnect exit $rc"
    grep -q "disconnected 2 controller" /tmp/disconnect.out || die "$(cat /tmp/disconnect.out)"
    wait_for 10 sh -c "[ ! -e /sys/class/nvme/$c ] && [ ! -e /sys/class/nvme/$c2 ]" || die "$c or $c2 still present after disconnect"
}

# --- driver -----------------------------------------------------------------------------------------

if [ "${1:-}" = __step ]; then
    fn=$2; shift 2
    "$fn" "$@"
    exit $?
fi

mkdir -p "$STATE"
: > "$STATE/values"
RESULT=PASS

# The test acts on the appliance now (through its API); the next step polls for the effect.
checkpoint() {
    echo "RIG-CHECKPOINT $1"
}

# run NAME FUNCTION [ARGS...]
run() {
    name=$1; shift
    log="$STATE/$name.log"
    t0=$(date +%s)
    timeout "${RIG_STEP_TIMEOUT:-300}" sh "$0" __step "$@" > "$log" 2>&1
    rc=$?
    dt=$(($(date +%s) - t0))
    detail=$(grep '^DETAIL: ' "$log" | tail -n 1 | cut -c9-)
    if [ "$rc" -eq 0 ]; then
        echo "RIG-STEP $name PASS ${dt}s${detail:+ $detail}"
        grep '^SHOW: ' "$log" | cut -c7- | sed "s/^/RIG-LOG $name: /"
    else
        [ "$rc" -eq 143 ] && detail="timed out after ${RIG_STEP_TIMEOUT:-300}s${detail:+; $detail}"
        echo "RIG-STEP $name FAIL ${detail:-exit $rc} (${dt}s)"
        tail -n 25 "$log" | sed "s/^/RIG-LOG $name: /"
        RESULT=FAIL
    fi
}

case "${RIG_PHASE:-main}" in
main)
    PLAN="discover discover-io-port connect list id-ctrl id-ns ns-descs ana-log smart-log
          fio-randwrite-4k-verify fio-mixed-4k-256k-verify flush write-zeroes compare-equal
          compare-unequal dsm-deallocate persist-write disconnect
          connect-digests fio-digests disconnect-digests
          connect-ioq1 queues-ioq1 fio-ioq1 disconnect-ioq1
          connect-ioq2 queues-ioq2 fio-ioq2 disconnect-ioq2
          connect-unknown-nqn-refused"
    echo "RIG-PLAN" $PLAN
    run discover step_discover
    run discover-io-port step_discover_io_port
    run connect step_connect
    run list step_list
    run id-ctrl step_id_ctrl
    run id-ns step_id_ns
    run ns-descs step_ns_descs
    run ana-log step_ana_log
    run smart-log step_smart_log
    run fio-randwrite-4k-verify step_fio_randwrite_4k
    run fio-mixed-4k-256k-verify step_fio_mixed
    run flush step_flush
    run write-zeroes step_write_zeroes
    run compare-equal step_compare_equal
    run compare-unequal step_compare_unequal
    run dsm-deallocate step_dsm_deallocate
    run persist-write step_persist_write
    run disconnect step_disconnect
    run connect-digests step_connect -g -G
    run fio-digests step_fio_small
    run disconnect-digests step_disconnect
    run connect-ioq1 step_connect -i 1
    run queues-ioq1 step_queue_count 1
    run fio-ioq1 step_fio_small
    run disconnect-ioq1 step_disconnect
    run connect-ioq2 step_connect -i 2
    run queues-ioq2 step_queue_count 2
    run fio-ioq2 step_fio_small
    run disconnect-ioq2 step_disconnect
    run connect-unknown-nqn-refused step_unknown_nqn_refused
    [ -f "$STATE/ids" ] && sed 's/^/RIG-VALUE /' "$STATE/ids"
    ;;
verify)
    echo "RIG-PLAN discover connect ns-ids-stable persist-read namespaces snap-same-as-volume" \
        "volume-changes-snap-intact snap-read-only clone-writable snap-fio-verify-readonly disconnect"
    run discover step_discover
    run connect step_connect
    run ns-ids-stable step_ns_ids_stable
    run persist-read step_persist_read
    run namespaces step_namespaces
    run snap-same-as-volume step_snap_same_as_volume
    run volume-changes-snap-intact step_volume_changes_snap_intact
    run snap-read-only step_snap_read_only
    run clone-writable step_clone_writable
    run snap-fio-verify-readonly step_snap_fio_verify_readonly
    run disconnect step_disconnect
    ;;
bind)
    echo "RIG-PLAN pe-discover pe-connect pe-connect-second-host no-namespace-before-bind" \
        "bind-volume-appears fio-verify-bound pattern-write-bound second-host-after-bind" \
        "bind-clone-appears clone-same-data clone-fio-verify-only second-host-after-clone-bind" \
        "path-without-aen unbind-volume-disappears io-to-unbound-nsid-fails unbind-clone-disappears" \
        "second-host-after-unbind pe-disconnect"
    run pe-discover step_pe_discover
    run pe-connect step_pe_connect
    run pe-connect-second-host step_pe_connect_fabrics pe_ctrl2 "hostnqn=$RIG_HOST2_NQN,hostid=$RIG_HOST2_ID"
    run no-namespace-before-bind step_no_namespace_before_bind
    checkpoint bind-volume
    run bind-volume-appears step_bind_volume_appears
    run fio-verify-bound step_fio_verify_bound
    run pattern-write-bound step_pattern_write_bound
    run second-host-after-bind step_second_host_sees_nothing
    checkpoint snapshot-clone-bind
    run bind-clone-appears step_bind_clone_appears
    run clone-same-data step_clone_same_data
    run clone-fio-verify-only step_clone_fio_verify_only
    run second-host-after-clone-bind step_second_host_sees_nothing
    run path-without-aen step_path_without_aen
    checkpoint unbind-volume
    run unbind-volume-disappears step_unbind_volume_disappears
    run io-to-unbound-nsid-fails step_io_to_unbound_nsid_fails
    checkpoint unbind-clone
    run unbind-clone-disappears step_unbind_clone_disappears
    run second-host-after-unbind step_second_host_sees_nothing
    run pe-disconnect step_pe_disconnect
    ;;
*)
    echo "RIG-STEP phase FAIL unknown RIG_PHASE '${RIG_PHASE}'"
    RESULT=FAIL
    ;;
esac

sed 's/^/RIG-VALUE /' "$STATE/values"
if [ "$RESULT" = FAIL ]; then
    echo "RIG-DMESG begin"
    dmesg | grep -iE 'nvme|tcp|crc' | grep -vE 'Reconnecting in|Failed reconnect|failed to connect socket|failing I/O' \
        | tail -n 60 | sed 's/^/RIG-DMESG /'
fi
echo "RIG-RESULT $RESULT"
[ "$RESULT" = PASS ]
