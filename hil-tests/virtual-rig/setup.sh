#!/usr/bin/env bash
# Prepares the virtual rig: Debian's own cloud kernel plus an initramfs (static busybox, nvme-cli, fio)
# that QEMU boots as a real NVMe/TCP host. See hil-tests/virtual-rig/README.md.
#
# Usage: setup.sh [CACHE_DIR]     (default: hil-tests/target/rig)
#
# Idempotent: when CACHE_DIR already holds a kernel and an initramfs built from the same inputs
# (this script, guest/init, the host's package versions) it only prints the kernel version.
# Installs the apt packages it needs when they are missing (and only then runs apt-get update).
set -euo pipefail

RIG_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${1:-$RIG_DIR/../target/rig}"
mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"

PACKAGES=(qemu-system-x86 busybox-static cpio nvme-cli fio kmod prometheus)
# Installed for the other suites, not part of the rig's fingerprint: the browser of ConsoleBrowserTest.
TEST_PACKAGES=(chromium)
KERNEL_META=linux-image-cloud-amd64

# Modules the guest loads, in this order. nvme-core is built into Debian's 6.1 cloud kernel.
# nvmet/nvmet-tcp/null_blk are for the optional kernel-target stand-in (see README), never for the host.
GUEST_MODULES=(configfs virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
               failover net_failover virtio_net nvme-fabrics nvme-tcp crc32c-intel)
EXTRA_MODULES=(nvmet nvmet-tcp null_blk)

log() { echo "rig-setup: $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing_packages() {
    local p
    for p in "${PACKAGES[@]}" "${TEST_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            echo "$p"
        fi
    done
}

APT_UPDATED=0
apt_update_once() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        as_root apt-get update -qq >&2
        APT_UPDATED=1
    fi
}

install_packages() {
    local missing
    missing="$(missing_packages)"
    if [ -n "$missing" ]; then
        # shellcheck disable=SC2086
        log "installing:" $missing
        apt_update_once
        # shellcheck disable=SC2086
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
    fi
}

# The kernel package that linux-image-cloud-amd64 currently depends on, e.g. linux-image-6.1.0-56-cloud-amd64.
kernel_package() {
    apt-cache depends "$KERNEL_META" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

input_fingerprint() {
    {
        cat "$RIG_DIR/setup.sh" "$RIG_DIR/guest/init"
        dpkg-query -W -f='${Package} ${Version}\n' "${PACKAGES[@]}" 2>/dev/null
        echo "$1"
    } | sha256sum | cut -d' ' -f1
}

install_packages

KPKG="$(kernel_package || true)"
if [ -z "$KPKG" ]; then
    apt_update_once
    KPKG="$(kernel_package || true)"
fi
if [ -z "$KPKG" ]; then
    # Offline but already built: keep using what the cache holds.
    if [ -f "$CACHE/kernel-package" ] && [ -f "$CACHE/.complete" ]; then
        KPKG="$(cat "$CACHE/kernel-package")"
    else
        log "cannot resolve $KERNEL_META (apt-cache depends failed)"; exit 1
    fi
fi

FINGERPRINT="$(input_fingerprint "$KPKG")"
if [ -f "$CACHE/.complete" ] && [ "$(cat "$CACHE/.complete")" = "$FINGERPRINT" ] \
        && [ -f "$CACHE/vmlinuz" ] && [ -f "$CACHE/initrd.img" ]; then
    echo "rig kernel $(cat "$CACHE/kernel-version") (cached in $CACHE)"
    exit 0
fi
rm -f "$CACHE/.complete"

# --- kernel -------------------------------------------------------------------------------------
WORK="$CACHE/work"
rm -rf "$WORK"
# The .deb is kept in the cache so a rebuild of the initramfs does not download it again.
mkdir -p "$CACHE/deb" "$WORK"
chmod 0777 "$CACHE/deb" # lets apt's _apt user write there (no "unsandboxed" warning)
DEB="$(ls "$CACHE/deb/${KPKG}"_*.deb 2>/dev/null | head -n 1 || true)"
if [ -z "$DEB" ]; then
    rm -f "$CACHE"/deb/*.deb
    log "downloading $KPKG"
    if ! (cd "$CACHE/deb" && apt-get download -q "$KPKG" >&2); then
        apt_update_once
        (cd "$CACHE/deb" && apt-get download -q "$KPKG" >&2)
    fi
    DEB="$(ls "$CACHE/deb/${KPKG}"_*.deb | head -n 1)"
fi
dpkg -x "$DEB" "$WORK/kernel"
KVER="$(ls "$WORK/kernel/lib/modules")"
[ -n "$KVER" ] && [ "$(echo "$KVER" | wc -l)" -eq 1 ] || { log "unexpected module dirs: $KVER"; exit 1; }
depmod -b "$WORK/kernel" "$KVER"

# --- initramfs ----------------------------------------------------------------------------------
ROOT="$WORK/initramfs"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc/nvme,etc/rig,rig,lib/modules/"$KVER"}

cp /bin/busybox "$ROOT/bin/busybox"
for applet in $("$ROOT/bin/busybox" --list-full); do
    [ -e "$ROOT/$applet" ] || ln -s /bin/busybox "$ROOT/$applet"
done

copy_with_libs() {
    local bin="$1" lib
    cp -L "$bin" "$ROOT$bin"
    for lib in $(ldd "$bin" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }'); do
        mkdir -p "$ROOT$(dirname "$lib")"
        [ -e "$ROOT$lib" ] || cp -L "$lib" "$ROOT$lib"
    done
}
# Replace busybox stand-ins (if any) with the real tools.
rm -f "$ROOT/usr/sbin/nvme" "$ROOT/usr/bin/fio"
copy_with_libs /usr/sbin/nvme
copy_with_libs /usr/bin/fio

# Modules with their dependencies, in load order; the guest insmods the list.
: > "$ROOT/etc/rig/modules"
: > "$ROOT/etc/rig/modules-extra"
add_modules() {
    local list="$1"; shift
    local m path
    for m in "$@"; do
        for path in $(modprobe -d "$WORK/kernel" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'); do
            rel="${path#"$WORK/kernel"}"
            mkdir -p "$ROOT$(dirname "$rel")"
            cp "$path" "$ROOT$rel"
            grep -qxF "$rel" "$ROOT/etc/rig/modules" "$ROOT/etc/rig/modules-extra" 2>/dev/null || echo "$rel" >> "$list"
        done
    done
}
add_modules "$ROOT/etc/rig/modules" "${GUEST_MODULES[@]}"
add_modules "$ROOT/etc/rig/modules-extra" "${EXTRA_MODULES[@]}"

install -m 0755 "$RIG_DIR/guest/init" "$ROOT/init"
echo "$KVER" > "$ROOT/etc/rig/kernel-version"

log "packing initramfs"
(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) | gzip -1 > "$WORK/initrd.img"
# Pad to 4 bytes so the per-run archive that run-guest.sh appends starts aligned.
size=$(stat -c %s "$WORK/initrd.img")
pad=$(( (4 - size % 4) % 4 ))
[ "$pad" -eq 0 ] || head -c "$pad" /dev/zero >> "$WORK/initrd.img"

mv -f "$WORK/initrd.img" "$CACHE/initrd.img"
cp "$WORK/kernel/boot/vmlinuz-$KVER" "$CACHE/vmlinuz"
echo "$KVER" > "$CACHE/kernel-version"
echo "$KPKG" > "$CACHE/kernel-package"
rm -rf "$WORK"
echo "$FINGERPRINT" > "$CACHE/.complete"
echo "rig kernel $KVER (built in $CACHE, initrd $(du -h "$CACHE/initrd.img" | cut -f1))"
