#!/usr/bin/env bash
# Builds crimux's small native helpers (static, so they run whatever libc the host has):
#   crimux-io      stdio bridges of the runc backend (conmon attach socket, runc console socket); see its source
#   crimux-stage1  the rkt stage1's privileged steps: env-file exec, mounts resolved inside an app root (#19),
#                  capability bounding set and seccomp filter of an app (#20; libseccomp, linked statically)
#   crimux-spawn   starts the daemon's child processes, so the daemon never forks itself (see its source)
#   crimux-layer   decompresses, hashes and extracts a pulled layer off the daemon's event loop (zlib, libzstd and
#                  OpenSSL's libcrypto, linked statically)
# Idempotent: rebuilt only when the source is newer than the installed binary.
#
# Usage: bash scripts/build-native.sh [OUT_DIR]   (default $CRIMUX_NATIVE_DIR or /usr/local/libexec/crimux)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-${CRIMUX_NATIVE_DIR:-/usr/local/libexec/crimux}}
die() { echo "build-native: $*" >&2; exit 1; }
command -v gcc >/dev/null || die "missing gcc (apt-get install gcc libc6-dev)"
[[ -f /usr/include/seccomp.h ]] || die "missing libseccomp headers (apt-get install libseccomp-dev)"
for h in zlib.h zstd.h openssl/evp.h; do
  [[ -f /usr/include/$h ]] || die "missing /usr/include/$h (apt-get install zlib1g-dev libzstd-dev libssl-dev)"
done

mkdir -p "$OUT"
for name in crimux-io crimux-stage1 crimux-spawn crimux-layer; do
  src=$ROOT/src/host/native/$name.c
  bin=$OUT/$name
  if [[ ! -x $bin || $src -nt $bin ]]; then
    tmp=$(mktemp "$OUT/.$name.XXXXXX")
    libs=()
    [[ $name == crimux-stage1 ]] && libs=(-lseccomp)
    # libcrypto's static archive names getaddrinfo/dlopen, which a static binary warns about; the helper uses neither.
    [[ $name == crimux-layer ]] && libs=(-lcrypto -lzstd -lz -lpthread -Wl,--no-warnings)
    gcc -static -O2 -Wall -Wextra -Werror -o "$tmp" "$src" "${libs[@]}" || { rm -f "$tmp"; die "compile $src"; }
    chmod 0755 "$tmp" && mv -f "$tmp" "$bin" # rename: a running helper keeps its old inode
    echo "build-native: built $bin" >&2
  fi
done
