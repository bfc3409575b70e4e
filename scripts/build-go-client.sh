#!/usr/bin/env bash
# Builds the Go CRI interop client (test/interop/go) with the kubelet's own gRPC library, from Debian packages
# only (golang-go, golang-google-grpc-dev, protobuf-compiler, protoc-gen-go-1-3; no network), and prints the
# binary's path. Cached by the hash of its inputs: a second run with unchanged sources only prints the path.
#   scripts/build-go-client.sh        (CRIMUX_GO_CLIENT_CACHE to move the cache, default /var/cache/crimux/go-client)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
proto=$root/proto/runtime/v1/api.proto
src=$root/test/interop/go
cache=${CRIMUX_GO_CLIENT_CACHE:-/var/cache/crimux/go-client}

for tool in go protoc protoc-gen-go; do
  command -v "$tool" >/dev/null || { echo "build-go-client: $tool missing (bash scripts/host-packages.sh)" >&2; exit 1; }
done

hash=$(cat "$proto" "$src"/*.go "$0" | sha256sum | cut -c1-16)
out=$cache/$hash/cri-interop
if [[ -x $out ]]; then echo "$out"; exit 0; fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The kubelet's import path for the CRI stubs, so the client reads like kubelet code.
api=$work/gopath/src/k8s.io/cri-api/pkg/apis/runtime/v1
mkdir -p "$api" "$work/gopath/src/crimux.test/cri-interop"
# protoc 3.21 does not know the field option debug_redact; dropping it leaves the wire format unchanged.
sed -E 's/ *\[debug_redact = true\]//' "$proto" >"$work/api.proto"
protoc -I "$work" --go_out="plugins=grpc,paths=source_relative:$api" "$work/api.proto"
cp "$src"/*.go "$work/gopath/src/crimux.test/cri-interop/"
mkdir -p "$cache/$hash"
(
  cd "$work/gopath/src/crimux.test/cri-interop"
  GO111MODULE=off GOPATH="$work/gopath:/usr/share/gocode" GOCACHE="$cache/gocache" GOFLAGS='' CGO_ENABLED=0 \
    go build -o "$out.tmp" .
)
mv "$out.tmp" "$out"
echo "$out"
