#!/usr/bin/env bash
# Builds what the vm backend boots (see src/backends/vm/README.md and ../shared/notes/vm-backend.md §6.4):
#   vmlinux       the Debian cloud kernel as a PVH ELF (a clean, shared file mapping: ~45 MB less private RAM
#                 per VM than booting vmlinuz); falls back to vmlinuz when the lz4 CLI is missing
#   initrd.img    busybox + /init + the virtio/scsi/net modules the guest needs, gzip'd newc cpio
#   tools.img     read-only ext4 disk with the host's node binary, the host's runc (Debian package runc: it starts
#                 the containers inside the guest), their libraries and the compiled guest agent
#   manifest.json versions and hashes; the backend checks the agent protocol version against it
# Only Debian packages (apt-get download + dpkg -x) and this repository are used. Idempotent and cached: each
# artefact is rebuilt only when its inputs (kernel version, agent source hash, node binary) change.
#
# Usage: bash scripts/build-vm-guest.sh [OUT_DIR]   (default $CRIMUX_VM_GUEST_DIR or /var/lib/crimux/vm/guest)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-${CRIMUX_VM_GUEST_DIR:-/var/lib/crimux/vm/guest}}
AGENT_SRC=$ROOT/src/backends/vm/guest
# Load order matters: busybox insmod does not resolve dependencies (order from each module's depends=).
# The bridge (llc stp bridge) is for containers holding CAP_NET_ADMIN: what a privileged container may do on a host.
MODULES=(virtio_ring virtio virtio_mmio virtio_console virtio_blk scsi_common scsi_mod sd_mod virtio_scsi
  failover net_failover virtio_net llc stp bridge)

die() { echo "build-vm-guest: $*" >&2; exit 1; }
log() { echo "build-vm-guest: $*" >&2; }
[[ $(id -u) -eq 0 ]] || die "must run as root (apt-get download, device nodes in the initramfs)"
for t in apt-get apt-cache dpkg gzip mkfs.ext4 sha256sum flock; do command -v "$t" >/dev/null || die "missing $t"; done
# What the vm backend needs at run time besides qemu-system-x86: qemu-img (qemu-utils, only a Recommends of
# qemu-system-x86) and lz4 (vmlinux extraction). Installed here when missing, so a fresh Debian 12 just works.
need=()
command -v qemu-img >/dev/null || need+=(qemu-utils)
command -v lz4 >/dev/null || need+=(lz4)
command -v runc >/dev/null || need+=(runc)
if ((${#need[@]} > 0)); then
  log "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; } ||
    die "cannot install ${need[*]}"
fi

mkdir -p "$OUT/cache"
exec 9>"$OUT/.lock"
flock -w 600 9 || die "another build holds $OUT/.lock"
start=$(date +%s)

# 1. Kernel version: the versioned package the meta package depends on (e.g. linux-image-6.1.0-56-cloud-amd64).
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
if [[ -z $kpkg ]]; then
  log "apt lists missing, running apt-get update"
  apt-get update -q >/dev/null
  kpkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
fi
[[ -n $kpkg ]] || die "cannot resolve linux-image-cloud-amd64"
kver=${kpkg#linux-image-}

# 2. Download and unpack the kernel and busybox-static once per version (cached .debs under $OUT/cache).
stage=$OUT/cache/stage-$kver
if [[ ! -f $stage/.done ]]; then
  log "downloading $kpkg busybox-static"
  rm -rf "$stage" && mkdir -p "$stage"
  (cd "$OUT/cache" && apt-get download -q "$kpkg" busybox-static >/dev/null)
  for deb in "$OUT/cache/${kpkg}"_*.deb "$OUT"/cache/busybox-static_*.deb; do dpkg -x "$deb" "$stage"; done
  touch "$stage/.done"
fi
vmlinuz=$stage/boot/vmlinuz-$kver
[[ -f $vmlinuz ]] || die "no $vmlinuz in $kpkg"

# 3. vmlinux: find the LZ4 legacy frame magic (02 21 4c 18) in the bzImage and keep the candidate that decodes to
#    an ELF. Several offsets can match by chance, hence the loop.
kernel_out=$OUT/vmlinux
if [[ ! -f $OUT/.kernel-$kver ]]; then
  rm -f "$OUT"/.kernel-* "$OUT/vmlinux" "$OUT/vmlinuz"
  if command -v lz4 >/dev/null; then
    for off in $(LC_ALL=C grep -obUaP '\x02\x21\x4c\x18' "$vmlinuz" | cut -d: -f1); do
      # lz4 exits 1 on the bytes that follow the frame (the rest of the bzImage): judge by the output instead.
      tail -c +$((off + 1)) "$vmlinuz" | lz4 -dc 2>/dev/null >"$OUT/vmlinux.tmp" || true
      if [[ $(head -c 4 "$OUT/vmlinux.tmp" | od -An -c | tr -d ' ') == '177ELF' ]]; then
        mv "$OUT/vmlinux.tmp" "$OUT/vmlinux"
        break
      fi
    done
    rm -f "$OUT/vmlinux.tmp"
  fi
  if [[ ! -f $OUT/vmlinux ]]; then
    log "WARNING: no lz4 CLI or no LZ4 payload: booting vmlinuz (costs ~45 MB more per VM); apt-get install lz4"
    cp "$vmlinuz" "$OUT/vmlinuz"
  fi
  touch "$OUT/.kernel-$kver"
fi
[[ -f $OUT/vmlinux ]] || kernel_out=$OUT/vmlinuz

# 4. initramfs: busybox, /init, modules. Rebuilt when the kernel or the init script changes.
init_hash=$(cat "$AGENT_SRC/init.sh" <(echo "$kver ${MODULES[*]}") | sha256sum | cut -c1-16)
if [[ ! -f $OUT/.initrd-$init_hash ]]; then
  log "building initramfs"
  tree=$OUT/cache/initramfs
  rm -rf "$tree" && mkdir -p "$tree"/{bin,dev,proc,sys,run,tmp,mnt,tools,lib/modules,etc}
  cp "$stage/bin/busybox" "$tree/bin/busybox"
  ln -s busybox "$tree/bin/sh"
  install -m 0755 "$AGENT_SRC/init.sh" "$tree/init"
  for m in "${MODULES[@]}"; do
    ko=$(find "$stage/lib/modules/$kver" -name "$m.ko*" | head -n1)
    [[ -n $ko ]] || die "module $m not in $kpkg"
    case $ko in
      *.ko) cp "$ko" "$tree/lib/modules/$m.ko" ;;
      *.ko.xz) xz -dc "$ko" >"$tree/lib/modules/$m.ko" ;;
      *) die "unsupported module compression: $ko" ;;
    esac
  done
  printf '%s\n' "${MODULES[@]}" >"$tree/lib/modules/order"
  echo "root:x:0:0:root:/:/bin/sh" >"$tree/etc/passwd"
  echo "root:x:0:" >"$tree/etc/group"
  # busybox cpio (from the package just unpacked): no dependency on the host's cpio package.
  (cd "$tree" && find . | LC_ALL=C sort | "$stage/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1 >"$OUT/initrd.img.tmp")
  mv "$OUT/initrd.img.tmp" "$OUT/initrd.img"
  rm -rf "$tree"
  rm -f "$OUT"/.initrd-* && touch "$OUT/.initrd-$init_hash"
fi

# 5. Agent: one bundled JS file, no npm dependencies in the guest (esbuild comes with the dev dependencies).
node_bin=$(readlink -f "$(command -v node)")
esbuild=$ROOT/node_modules/.bin/esbuild
[[ -x $esbuild ]] || die "missing $esbuild: run npm ci first"
# The agent is bundled first (well under a second) and its hash taken from the bundle, so a change to any module it
# imports (src/host/exec-output.ts, protocol.ts, …) rebuilds the guest, and nothing else does.
agent_js=$(mktemp --suffix=.js)
trap 'rm -f "$agent_js"' EXIT
"$esbuild" "$AGENT_SRC/main.ts" --bundle --platform=node --target=node20 --format=cjs \
  --outfile="$agent_js" --log-level=warning
agent_hash=$(cd "$ROOT" && cat "$agent_js" src/backends/vm/guest/*.c src/host/native/crimux-io.c | sha256sum | cut -c1-16)
runc_bin=$(readlink -f "$(command -v runc)")
node_hash=$( (node --version; stat -c '%s %Y' "$node_bin" "$runc_bin") | sha256sum | cut -c1-16)
tools_key=$agent_hash-$node_hash
if [[ ! -f $OUT/.tools-$tools_key ]]; then
  log "building tools disk (node $(node --version), agent $agent_hash)"
  tdir=$OUT/cache/tools
  rm -rf "$tdir" && mkdir -p "$tdir/usr/bin" "$tdir/lib" "$tdir/agent"
  cp "$node_bin" "$tdir/usr/bin/node"
  # Every library node links against, plus the loader; the initramfs symlinks /lib64 and /lib/x86_64-linux-gnu here.
  for lib in $(ldd "$node_bin" | awk '/=>/ {print $3} /ld-linux/ {print $1}'); do cp -L "$lib" "$tdir/lib/"; done
  # runc runs every container in the guest (capabilities, seccomp, masks, groups as on the host); it links
  # libseccomp and libc, found through the same /lib symlinks.
  cp "$runc_bin" "$tdir/usr/bin/runc"
  for lib in $(ldd "$runc_bin" | awk '/=>/ {print $3}'); do cp -L "$lib" "$tdir/lib/"; done
  cp "$agent_js" "$tdir/agent/agent.js"
  echo "$agent_hash" >"$tdir/agent/hash"
  # vmhelper: a forced CRNG reseed in clones (an ioctl Node cannot issue) and the pod's reaping PID 1; crimux-io
  # (the host's console bridge): the terminal runc hands over for a tty exec. Optional: without gcc the agent
  # still works, without those (tty execs then run without a terminal).
  if command -v gcc >/dev/null; then
    mkdir -p "$tdir/bin"
    gcc -static -Os -o "$tdir/bin/vmhelper" "$AGENT_SRC/vmhelper.c" || die "cannot build vmhelper"
    gcc -static -O2 -o "$tdir/bin/crimux-io" "$ROOT/src/host/native/crimux-io.c" || die "cannot build crimux-io"
  else
    log "WARNING: no gcc: building the guest without vmhelper and crimux-io (no terminal for tty exec, no forced reseed in clones)"
  fi
  size=$(( $(du -sm "$tdir" | cut -f1) + 24 ))
  rm -f "$OUT/tools.img.tmp"
  mkfs.ext4 -q -F -d "$tdir" -O ^has_journal -L agenttools "$OUT/tools.img.tmp" "${size}M"
  mv "$OUT/tools.img.tmp" "$OUT/tools.img"
  rm -rf "$tdir" # a 100+ MB copy of node, now inside tools.img
  rm -f "$OUT"/.tools-* && touch "$OUT/.tools-$tools_key"
fi

proto=$(sed -n "s/^export const PROTOCOL_VERSION = \([0-9]*\);.*/\1/p" "$ROOT/src/backends/vm/protocol.ts")
cat >"$OUT/manifest.json.tmp" <<EOF
{
  "kernelVersion": "$kver",
  "kernel": "$kernel_out",
  "initrd": "$OUT/initrd.img",
  "tools": "$OUT/tools.img",
  "agentHash": "$agent_hash",
  "protocolVersion": ${proto:-0},
  "buildId": "$kver-$init_hash-$tools_key"
}
EOF
mv "$OUT/manifest.json.tmp" "$OUT/manifest.json"
log "ready in $OUT ($(($(date +%s) - start)) s)"
