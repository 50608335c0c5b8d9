#!/bin/sh
# A reference NVMe/TCP target for checking the rig itself: Linux's own nvmet in a second guest, serving
# a memory-backed null_blk namespace on port 4420 (QEMU forwards the machine's ports to it). Not used by
# VirtualRigTest; see README.md ("Checking the rig without the appliance"). Params (/rig/params):
#   RIG_NQN, RIG_NS_MB (default 600), RIG_EXTRA_MODULES=1 (so /init loads nvmet, nvmet-tcp, null_blk)
. /rig/params
set -e
C=/sys/kernel/config
NQN="${RIG_NQN:-nqn.2026-11.io.vvolgate:rig}"

# null_blk through configfs, so it can be memory backed (keeps data) and support discard.
mkdir "$C/nullb/rig"
echo "${RIG_NS_MB:-600}" > "$C/nullb/rig/size"
echo 1 > "$C/nullb/rig/memory_backed"
echo 1 > "$C/nullb/rig/discard"
echo 512 > "$C/nullb/rig/blocksize"
echo 1 > "$C/nullb/rig/power"
# 6.1 names the disk after the configfs item (/dev/rig); later kernels use nullb<index>.
DEV=/dev/rig
[ -e /sys/block/rig ] || DEV=/dev/nullb$(cat "$C/nullb/rig/index")
i=0
while [ ! -b "$DEV" ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done # devtmpfs is asynchronous

mkdir "$C/nvmet/subsystems/$NQN"
echo 1 > "$C/nvmet/subsystems/$NQN/attr_allow_any_host"
mkdir "$C/nvmet/subsystems/$NQN/namespaces/1"
echo "$DEV" > "$C/nvmet/subsystems/$NQN/namespaces/1/device_path"
echo "${RIG_NGUID:-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}" > "$C/nvmet/subsystems/$NQN/namespaces/1/device_nguid"
echo 1 > "$C/nvmet/subsystems/$NQN/namespaces/1/enable"
mkdir "$C/nvmet/ports/1"
echo ipv4 > "$C/nvmet/ports/1/addr_adrfam"
echo tcp > "$C/nvmet/ports/1/addr_trtype"
echo 0.0.0.0 > "$C/nvmet/ports/1/addr_traddr"
echo 4420 > "$C/nvmet/ports/1/addr_trsvcid"
ln -s "$C/nvmet/subsystems/$NQN" "$C/nvmet/ports/1/subsystems/$NQN"
set +e
echo "RIG-TARGET ready $NQN on $DEV"
dmesg -n 6
# Serve until QEMU is killed; a bounded wait keeps a forgotten target from living forever.
sleep "${RIG_TARGET_SECONDS:-1800}"
