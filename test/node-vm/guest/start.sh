#!/bin/sh
# Runs inside the node VM as node-vm-app.service (scripts/build-node-vm.sh) from the app disk the suite builds
# (test/node-vm/node-vm.ts): two crimux daemons on the same node, one per cgroup driver, each with its own
# config, state, run dir, CNI bridge and log file (the cgroupfs one also serves the rkt handler); their CRI sockets and the probe are exposed over TCP for qemu's
# hostfwd (the host side binds 127.0.0.1 only). Progress goes to the serial console, which the suite records.
APP=/opt/app
exec >/dev/ttyS0 2>&1
say() { echo "node-vm-app: $*"; }
say "cgroup fs $(stat -fc %T /sys/fs/cgroup), PID 1 $(cat /proc/1/comm), kernel $(uname -r)"
say "controllers $(cat /sys/fs/cgroup/cgroup.controllers)"
for d in cgroupfs systemd; do
  mkdir -p "/var/lib/crimux-$d" "/run/crimux-$d" "/var/log/pods-$d"
  node "$APP/dist/src/cli/main.js" serve --config "$APP/crimux-$d.json" >"/var/log/crimux-$d.log" 2>&1 &
  say "crimux ($d driver) pid $!"
done
socat TCP-LISTEN:10010,fork,reuseaddr UNIX-CONNECT:/run/crimux-cgroupfs/crimux.sock &
socat TCP-LISTEN:10011,fork,reuseaddr UNIX-CONNECT:/run/crimux-systemd/crimux.sock &
socat TCP-LISTEN:10012,fork,reuseaddr EXEC:"/bin/sh $APP/probe.sh" &
say "listening"
wait
