#!/bin/sh
# PID 1 of every crimux VM (packed into the initramfs by scripts/build-vm-guest.sh). It stays tiny on purpose:
# mount the pseudo filesystems, load the modules, mount the read-only tools disk (node + agent) and exec the agent.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /dev/pts /dev/shm /sys/fs/cgroup
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# cgroup v2 is built into the guest kernel: the agent reads per-container stats from it.
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null && echo '+cpu +memory +pids' >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
ln -sf /proc/self/fd /dev/fd

# Accelerator probe (the backend boots with vmprobe=1 to check KVM/TCG actually run a guest): say so and stop.
if grep -q 'vmprobe=1' /proc/cmdline; then
  echo VMPROBE-OK
  poweroff -f
fi

# No depmod in the guest: load in the order the build recorded (dependencies first).
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m.ko 2>/dev/null; done

# The tools disk is found by its serial, never by vdX order.
for i in $(seq 1 200); do
  for s in /sys/block/vd*/serial; do
    [ -f "$s" ] && [ "$(cat "$s")" = agenttools ] && dev=/dev/$(basename "$(dirname "$s")")
  done
  [ -n "$dev" ] && [ -b "$dev" ] && break
  sleep 0.05
done
mount -t ext4 -o ro "$dev" /tools || { echo "init: no tools disk"; poweroff -f; }
mkdir -p /lib
ln -s /tools/lib /lib64
ln -s /tools/lib /lib/x86_64-linux-gnu
ip link set lo up
# PID 1 is busybox init, not node: processes orphaned inside containers (e.g. the child of an exec whose nsenter
# was killed on timeout) are re-parented to the guest's PID 1, and a PID-namespace init cannot finish exiting until
# they are reaped. Node never reaps children it did not spawn; busybox init does, and respawns the agent if it dies.
# Two libuv pool threads sit in blocking reads/writes of the port; UV_THREADPOOL_SIZE leaves room for file work.
cat >/etc/inittab <<'EOT'
::respawn:/bin/sh -c 'UV_THREADPOOL_SIZE=8 exec /tools/usr/bin/node --max-old-space-size=64 /tools/agent/agent.js'
EOT
echo "init: starting agent"
exec /bin/busybox init
