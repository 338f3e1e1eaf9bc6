#!/usr/bin/env bash
# Runs a command (by default the multiprog tests) as root inside a QEMU guest that boots Debian's stock kernel,
# with this machine's root filesystem shared read-only over virtio-9p. Use it for what the host kernel refuses:
# libxdp's dispatcher needs freplace (BPF_PROG_TYPE_EXT) programs, which some sandbox kernels refuse with EPERM
# before verification, so `sluice run` next to `xdp-filter` can only be shown on another kernel.
#
#   scripts/kernel-vm.sh                      # the multiprog tests (debug build), in the guest
#   scripts/kernel-vm.sh -- CMD ARGS...       # any command, run from this checkout inside the guest
#
# Environment: SLUICE_VM_KERNEL (a linux-image-*.deb package name; default: the newest of Debian's stock amd64
# kernels for this release), SLUICE_VM_DIR (cache for the kernel and initramfs; default /var/cache/sluice-vm),
# SLUICE_VM_TIMEOUT (seconds for the whole guest run; default 900), SLUICE_VM_MEMORY (MiB; default 3072).
#
# The guest sees the host's files read-only: it writes only to its own tmpfs (/tmp, /run, /var/tmp, /root), so
# nothing it does reaches the host's files, interfaces or BPF state. Its exit status is the command's.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

if [ "$(id -u)" -ne 0 ]; then
    echo "kernel-vm: needs root (the guest runs its command as root; qemu reads the host's files as this user)" >&2
    exit 77
fi
if [ $# -gt 0 ] && [ "$1" = "--" ]; then shift; fi
if [ $# -eq 0 ]; then
    set -- .build/debug/SluicePackageTests.xctest --testing-library swift-testing --filter MultiprogLiveTests
fi

dir=${SLUICE_VM_DIR:-/var/cache/sluice-vm}
timeout_s=${SLUICE_VM_TIMEOUT:-900}
memory=${SLUICE_VM_MEMORY:-3072}
mkdir -p "$dir"

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] && /bin/busybox --list | grep -x insmod >/dev/null || need+=(busybox-static)
install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    }
}
if [ ${#need[@]} -gt 0 ]; then
    echo "kernel-vm: installing ${need[*]}" >&2
    install "${need[@]}"
fi

# The kernel: Debian's stock amd64 image (it has virtio-9p, veth, BTF and the BPF JIT; its BPF allows freplace).
stock_kernel() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}'; }
package=${SLUICE_VM_KERNEL:-$(stock_kernel)}
if [ -z "$package" ]; then apt-get update -qq && package=$(stock_kernel); fi
if [ -z "$package" ]; then
    echo "kernel-vm: no Debian kernel package found (apt-cache depends linux-image-amd64 gave nothing; run apt-get update)" >&2
    exit 1
fi
kdir="$dir/$package"
if [ ! -f "$kdir/done" ]; then
    rm -rf "$kdir" && mkdir -p "$kdir"
    # Stale package lists can name a kernel the mirror no longer has: refresh them once and ask again.
    if ! (cd "$kdir" && apt-get download "$package" >/dev/null 2>&1); then
        rm -rf "$kdir"
        apt-get update -qq || true
        [ -n "${SLUICE_VM_KERNEL:-}" ] || package=$(stock_kernel)
        kdir="$dir/$package"
        rm -rf "$kdir" && mkdir -p "$kdir"
        (cd "$kdir" && apt-get download "$package" >/dev/null 2>&1) || {
            rm -rf "$kdir"
            echo "kernel-vm: apt-get download $package failed (also after apt-get update)" >&2
            exit 1
        }
    fi
    dpkg-deb -x "$kdir"/*.deb "$kdir/root"
    rm -f "$kdir"/*.deb
    touch "$kdir/done"
fi
vmlinuz=$(ls "$kdir"/root/boot/vmlinuz-* | head -n 1)
release=${vmlinuz##*/vmlinuz-}
moddir="$kdir/root/lib/modules/$release/kernel"

# The initramfs: busybox, the modules for virtio-9p and veth (in dependency order), and /init.
modules=(
    drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev
    drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci fs/netfs/netfs fs/fscache/fscache
    net/9p/9pnet net/9p/9pnet_virtio fs/9p/9p drivers/net/veth drivers/net/tun
)
work=$(mktemp -d /tmp/sluice-vm.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/initramfs"/{bin,dev,proc,sys,host,modules}
cp /bin/busybox "$work/initramfs/bin/busybox"
for m in "${modules[@]}"; do
    for suffix in .ko .ko.xz .ko.zst; do
        if [ -f "$moddir/$m$suffix" ]; then
            case $suffix in
            .ko) cp "$moddir/$m.ko" "$work/initramfs/modules/" ;;
            .ko.xz) xz -dc "$moddir/$m.ko.xz" > "$work/initramfs/modules/${m##*/}.ko" ;;
            .ko.zst) zstd -qdc "$moddir/$m.ko.zst" > "$work/initramfs/modules/${m##*/}.ko" ;;
            esac
            echo "${m##*/}" >> "$work/initramfs/modules/order"
            break
        fi
    done
done

# The command, quoted for the guest's sh.
quoted=""
for arg in "$@"; do quoted+=" '${arg//\'/\'\\\'\'}'"; done
cat > "$work/initramfs/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r m; do insmod /modules/\$m.ko || echo "kernel-vm: insmod \$m failed"; done < /modules/order
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /host || {
    echo "kernel-vm: cannot mount the host's files"; echo "kernel-vm-status=125"; poweroff -f; }
# Compiled test programs are cached by content under /tmp; the guest starts with the host's copy.
mkdir /scratch && mount -t tmpfs -o size=1g tmp /scratch
[ -d /host/tmp/sluice-bpf-objects ] && cp -a /host/tmp/sluice-bpf-objects /scratch/
[ -d /host/tmp/sluice-bpfobject-objects ] && cp -a /host/tmp/sluice-bpfobject-objects /scratch/
mount --move /scratch /host/tmp
for d in run var/tmp root; do mount -t tmpfs -o size=256m tmp /host/\$d; done
mkdir -p /host/run/netns /host/run/lock
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
mkdir -p /host/dev/pts /host/dev/shm && mount -t devpts devpts /host/dev/pts && mount -t tmpfs shm /host/dev/shm
mount -t bpf bpf /host/sys/fs/bpf
mount -t tracefs tracefs /host/sys/kernel/tracing 2>/dev/null
chroot /host /bin/sh -c "ip link set lo up; ulimit -l unlimited; cd '$repo' && echo 'kernel-vm: guest kernel '\\\$(uname -r) && HOME=/root$quoted"
echo "kernel-vm-status=\$?"
poweroff -f
EOF
chmod +x "$work/initramfs/init"
(cd "$work/initramfs" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$work/initrd.gz"

accel=tcg
cpu=max
if [ -r /dev/kvm ] && grep -qE 'vmx|svm' /proc/cpuinfo; then accel=kvm; cpu=host; fi
echo "kernel-vm: booting $package ($release) under $accel; running:$quoted" >&2
log="$work/console.log"
set +e
timeout --foreground "$timeout_s" qemu-system-x86_64 -accel "$accel" -cpu "$cpu" -smp 2 -m "$memory" \
    -nographic -no-reboot -monitor none -serial stdio \
    -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init" \
    -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
    -nic none < /dev/null | tee "$log" | tr -d '\r'
qemu_status=${PIPESTATUS[0]}
set -e
status=$(tr -d '\r' < "$log" | sed -n 's/^kernel-vm-status=\([0-9]*\)$/\1/p' | tail -n 1)
if [ -z "$status" ]; then
    echo "kernel-vm: the guest ended without reporting a status (qemu exit $qemu_status; 124 is the ${timeout_s}s timeout)" >&2
    exit 1
fi
exit "$status"
