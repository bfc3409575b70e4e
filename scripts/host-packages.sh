#!/usr/bin/env bash
# Installs every Debian package crimux and its tests need on a fresh Debian 12 host (CI starts from one), loads
# the kernel modules it can and enables IPv4 forwarding for pod networking. Idempotent and quiet on success: only
# packages that are missing are installed, and apt's output is shown only when something fails.
set -euo pipefail

# Runtimes and tools the daemon drives, then what tests and image builds use. busybox (dynamic) is NOT here: it
# conflicts with busybox-static and is only fetched with `apt-get download` by scripts/test-images.sh.
PACKAGES=(
  runc conmon docker.io containernetworking-plugins systemd-container qemu-system-x86
  busybox-static docker-registry skopeo umoci
  # scripts/build-node-vm.sh: the cgroup v2 + systemd node VM root (#26).
  debootstrap
  iproute2 iptables kmod e2fsprogs procps psmisc util-linux attr
  curl jq ca-certificates gcc libc6-dev libseccomp-dev shellcheck zstd qemu-utils lz4
  # scripts/build-native.sh: crimux-layer links zlib, libzstd and libcrypto statically.
  zlib1g-dev libzstd-dev libssl-dev
  # The Go CRI interop client (scripts/build-go-client.sh): grpc-go as the kubelet uses it, APIv1 stubs.
  golang-go golang-google-grpc-dev protobuf-compiler protoc-gen-go-1-3
)

die() { echo "host-packages: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must run as root"

log=$(mktemp /tmp/host-packages.XXXXXX.log)
trap 'rm -f "$log"' EXIT

# Runs a command with its output kept in $log, printed only if it fails (loud on failure, quiet on success).
quiet() {
  if ! "$@" >>"$log" 2>&1; then
    cat "$log" >&2
    die "failed: $*"
  fi
}

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ $status == installed ]] || missing+=("$p")
done

if ((${#missing[@]} > 0)); then
  # Refresh the lists only when they are missing or older than a day; a fresh CI machine has none.
  lists=/var/lib/apt/lists
  if [[ -z $(find "$lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 -print -quit 2>/dev/null) ]]; then
    quiet apt-get update -q
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
    # Lists younger than a day can still name a version the mirror has dropped: refresh once and retry.
    quiet apt-get update -q
    quiet apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi

# Built-in modules make modprobe fail harmlessly; a kernel without overlay or br_netfilter shows up in the tests
# that need them, not here.
modprobe overlay >/dev/null 2>&1 || true
modprobe br_netfilter >/dev/null 2>&1 || true
quiet sysctl -w net.ipv4.ip_forward=1
