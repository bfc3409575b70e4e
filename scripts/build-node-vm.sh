#!/usr/bin/env bash
# Builds the "node VM" the cgroup v2 / systemd end-to-end suite boots (test/node-vm/, issue #26): a Debian 12 root
# with systemd as PID 1 (unified cgroup hierarchy, Debian's default), runc, conmon, the CNI plugins, socat, the
# host's node binary and systemd-nspawn (the rkt backend's stage1), plus the Debian cloud kernel and the initrd
# initramfs-tools made for it inside the root.
# crimux itself (dist + production node_modules) is NOT baked in: the suite puts it on a small second disk at every
# run, so this image only changes when this script, the package list or the node binary change.
#
# Output, in $OUT/<key>/ where <key> is a content hash of those inputs (CI builds it once, then reuses it):
#   vmlinuz, initrd.img   kernel + initrd to boot with -kernel/-initrd (root=/dev/vda)
#   root.qcow2            the root filesystem (ext4 inside qcow2); the suite boots a throw-away overlay of it
#   ok                    written last: a directory without it is an unfinished build and is rebuilt
# The key is printed on stdout (the last line is the directory), so callers can do dir=$(bash build-node-vm.sh).
#
# Measured (2 vCPU shared host, TCG, -M q35 -m 1536): build ≈ 3 min; boot to the app unit ≈ 60 s, with
# /sys/fs/cgroup a cgroup2fs, systemd PID 1, controllers cpuset cpu io memory hugetlb pids, runc 1.1.5, conmon 2.1.6,
# node v20, 10.0.2.15 on user-mode net (host reachable at 10.0.2.2, e.g. the test registry on :5000).
# Boot: qemu-system-x86_64 -M q35 -accel tcg -m 1536 -kernel vmlinuz -initrd initrd.img
#   -append 'root=/dev/vda rw console=ttyS0' -drive file=<overlay of root.qcow2>,if=virtio
#   -drive file=<app.ext4 with start.sh>,if=virtio,readonly=on -netdev user,id=n0,hostfwd=… -device virtio-net-pci,netdev=n0
#
# Only Debian packages from the configured apt mirror are used (debootstrap reads the first deb.debian.org-style
# URI from /etc/apt/sources.list*). Usage: bash scripts/build-node-vm.sh [OUT]  (default /var/cache/crimux/node-vm)
set -euo pipefail

OUT=${1:-${CRIMUX_NODE_VM_DIR:-/var/cache/crimux/node-vm}}
SUITE=bookworm
# systemd as PID 1 needs systemd-sysv (/sbin/init), udev (device units) and dbus (runc's systemd driver asks
# systemd over D-Bus to create scopes). The kernel comes with initramfs-tools, which builds its initrd in the root.
# The rkt backend's built-in stage1 needs systemd-nspawn (systemd-container); its other tools (flock, nsenter,
# setpriv, unshare, mount) come with util-linux and mount, and its helper crimux-stage1 (static) is on the app disk.
PACKAGES=(systemd systemd-sysv udev dbus runc conmon containernetworking-plugins iproute2 iptables socat kmod
  procps util-linux mount ca-certificates linux-image-cloud-amd64 initramfs-tools zstd tar systemd-container)

die() { echo "build-node-vm: $*" >&2; exit 1; }
log() { echo "build-node-vm: $*" >&2; }
[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap)"
if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >/dev/null ||
    die "cannot install debootstrap"
fi
for t in mkfs.ext4 qemu-img sha256sum flock node; do command -v "$t" >/dev/null || die "missing $t"; done

mirror=$(grep -rhoE '^(deb |URIs:)\s*https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ \
  2>/dev/null | head -1 | awk '{print $2}' || true)
mirror=${mirror:-http://deb.debian.org/debian}
node_bin=$(readlink -f "$(command -v node)")

key=$( {
  cat "${BASH_SOURCE[0]}"
  echo "$SUITE ${PACKAGES[*]}"
  sha256sum "$node_bin" | cut -d' ' -f1
} | sha256sum | cut -c1-16)
dir=$OUT/$key
if [[ -f $dir/ok ]]; then
  echo "$dir"
  exit 0
fi

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock -w 1200 9 || die "another build holds $OUT/.lock"
if [[ -f $dir/ok ]]; then
  echo "$dir"
  exit 0
fi
start=$(date +%s)
rm -rf "$dir"
mkdir -p "$dir"
rootfs=$dir/rootfs
logf=$dir/build.log
log "debootstrap $SUITE from $mirror into $rootfs (log: $logf)"
incl=$(
  IFS=,
  echo "${PACKAGES[*]}"
)
if ! debootstrap --variant=minbase --include="$incl" "$SUITE" "$rootfs" "$mirror" >"$logf" 2>&1; then
  tail -30 "$logf" >&2
  die "debootstrap failed"
fi

# Node: the host's binary (same version the project is tested with) and the shared libraries it links.
install -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
for lib in $(ldd "$node_bin" | awk '/=> \//{print $3}'); do
  [[ -e $rootfs$lib ]] || install -D -m 0644 "$lib" "$rootfs$lib"
done

# Guest configuration: console login not needed; networking is qemu's user-mode net (10.0.2.15/24, gateway and
# host at 10.0.2.2), set statically so boot does not wait for DHCP.
echo node-vm >"$rootfs/etc/hostname"
printf '127.0.0.1 localhost node-vm\n' >"$rootfs/etc/hosts"
printf '/dev/vda / ext4 rw,relatime 0 1\n' >"$rootfs/etc/fstab"
: >"$rootfs/etc/machine-id"
cat >"$rootfs/etc/systemd/system/node-vm-net.service" <<'EOF'
[Unit]
Description=Static user-mode network for the node VM
Before=network.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'dev=$(ls /sys/class/net | grep -v lo | head -1); ip link set lo up; ip link set "$dev" up; ip addr add 10.0.2.15/24 dev "$dev"; ip route add default via 10.0.2.2'
[Install]
WantedBy=multi-user.target
EOF
# The suite's second disk (/dev/vdb, label crimux-app) carries crimux and a start script; this unit runs it.
cat >"$rootfs/etc/systemd/system/node-vm-app.service" <<'EOF'
[Unit]
Description=crimux under test (from the suite's app disk)
After=node-vm-net.service
Wants=node-vm-net.service
[Service]
Type=simple
ExecStartPre=/bin/mkdir -p /opt/app
ExecStartPre=/bin/mount -o ro /dev/vdb /opt/app
ExecStart=/bin/sh /opt/app/start.sh
[Install]
WantedBy=multi-user.target
EOF
mkdir -p "$rootfs/etc/systemd/system/multi-user.target.wants"
ln -sf ../node-vm-net.service "$rootfs/etc/systemd/system/multi-user.target.wants/node-vm-net.service"
ln -sf ../node-vm-app.service "$rootfs/etc/systemd/system/multi-user.target.wants/node-vm-app.service"
# Boot faster under TCG: nothing waits on network-online, no getty on tty1 (the console is ttyS0).
ln -sf /lib/systemd/system/multi-user.target "$rootfs/etc/systemd/system/default.target"
rm -f "$rootfs/etc/systemd/system/getty.target.wants/getty@tty1.service"
chroot "$rootfs" systemctl mask systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer \
  e2scrub_all.timer fstrim.timer man-db.timer >>"$logf" 2>&1 || true

kv=$(find "$rootfs/boot" -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -1)
[[ -n $kv ]] || die "no kernel in $rootfs/boot"
[[ -f $rootfs/boot/initrd.img-$kv ]] || chroot "$rootfs" update-initramfs -c -k "$kv" >>"$logf" 2>&1 ||
  die "update-initramfs failed"
cp "$rootfs/boot/vmlinuz-$kv" "$dir/vmlinuz"
cp "$rootfs/boot/initrd.img-$kv" "$dir/initrd.img"
rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*

mkfs.ext4 -q -F -L node-vm-root -d "$rootfs" "$dir/root.ext4" 3G >>"$logf" 2>&1 || die "mkfs.ext4 failed"
qemu-img convert -O qcow2 "$dir/root.ext4" "$dir/root.qcow2" >>"$logf" 2>&1 || die "qemu-img convert failed"
rm -rf "$rootfs" "$dir/root.ext4"
echo "kernel=$kv mirror=$mirror node=$node_bin built_in=$(($(date +%s) - start))s" >"$dir/ok"
log "built $dir in $(($(date +%s) - start)) s"
# Older builds are dead weight: keep only this key.
find "$OUT" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
echo "$dir"
