#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) for crimux: host packages, npm dependencies, the build, and the
# assets backends need at run time. Idempotent: a second run only checks.
#   bash scripts/setup.sh          everything the daemon needs
#   bash scripts/setup.sh --test   also the test registry, test images and the node VM (test/node-vm)
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '== %s\n' "$*"; }

step "host packages"
bash scripts/host-packages.sh

step "npm dependencies"
if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

step "build"
npm run --silent build

step "native helpers (crimux-spawn, crimux-io, crimux-stage1)"
bash scripts/build-native.sh

step "CNI configuration"
# The shipped conflist is installed only where no CNI configuration exists yet: never override an operator's.
if ! ls /etc/cni/net.d/*.conflist /etc/cni/net.d/*.conf >/dev/null 2>&1; then
  install -D -m 0644 config/cni/10-crimux.conflist /etc/cni/net.d/10-crimux.conflist
fi

step "crimux state dir (private: pulled layers hold setuid binaries)"
# 0700 like containerd's snapshot roots (CVE-2021-41091 class); the daemon re-asserts it at every start.
install -d -m 0700 -o root -g root /var/lib/crimux
chmod 0700 /var/lib/crimux

step "vm guest (kernel + initramfs, agent)"
bash scripts/build-vm-guest.sh

step "dockerd (docker backend)"
bash scripts/start-dockerd.sh

if [[ ${1:-} == --test ]]; then
  step "test registry and images"
  bash scripts/test-registry.sh start
  bash scripts/test-images.sh
  step "node VM (cgroup v2 + systemd suite, test/node-vm; debootstrap from the apt mirror, cached)"
  # A failure here stops setup: the suite would fail anyway (CRIMUX_SKIP_NODE_VM=1 opts out of it explicitly).
  bash scripts/build-node-vm.sh >/dev/null
fi
step "done"
