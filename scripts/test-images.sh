#!/usr/bin/env bash
# Builds the test images from local material only (C sources in test/fixtures/src, Debian's busybox package) as
# OCI layouts with umoci and GNU tar, and pushes them to the local test registry (scripts/test-registry.sh).
# A reference is pushed under its path without the registry host, which is how the daemon's registry mapping
# finds it: registry.k8s.io/pause:3.9 -> 127.0.0.1:5000/pause:3.9. test/fixtures/images.ts names the same
# images and the facts tests may expect of them; keep both in step.
#
# Cached: a build is skipped when the stamp for the hash of every input (this script, the C sources, the busybox
# .deb, the compiler and umoci versions) exists, and a push is skipped when the registry already has the tag.
#
# Env: CRIMUX_TEST_REGISTRY_PORT (default 5000), CRIMUX_TEST_DIR (default /var/lib/crimux-test),
#      CRIMUX_TEST_CACHE (default $CRIMUX_TEST_DIR/cache).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=$ROOT/test/fixtures/src
PORT=${CRIMUX_TEST_REGISTRY_PORT:-5000}
DIR=${CRIMUX_TEST_DIR:-/var/lib/crimux-test}
CACHE=${CRIMUX_TEST_CACHE:-$DIR/cache}
REG=127.0.0.1:$PORT
BUILD=$CACHE/build
LAYOUT=$CACHE/oci
# Fixed timestamps so that the same inputs give byte-identical layers.
EPOCH=1704067200
CREATED=2024-01-01T00:00:00Z
PATH_ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# key|reference|local repository:tag (the reference without its registry host)|skopeo copy flags
IMAGES=(
  "pause-3.9|registry.k8s.io/pause:3.9|pause:3.9|"
  "busybox-1.36|docker.io/library/busybox:1.36|library/busybox:1.36|"
  "busybox-1.36-user|docker.io/library/busybox:1.36-user|library/busybox:1.36-user|"
  "layers-1|docker.io/crimux/layers:1|crimux/layers:1|"
  "multiarch-1|docker.io/crimux/multiarch:1|crimux/multiarch:1|--multi-arch=all"
  "http-1|docker.io/crimux/http:1|crimux/http:1|"
)

# The upstream CRI validation suite's images (cri-tools critest: pkg/validate/consts.go, pkg/framework/util.go),
# built from the same local busybox/http material, under the same paths minus the host, so that both our
# conformance suite (test/conformance/) and critest itself can run against this registry.
CONFORMANCE_IMAGES=(
  "e2e-busybox|registry.k8s.io/e2e-test-images/busybox:1.29-2|e2e-test-images/busybox:1.29-2|"
  "e2e-nginx|registry.k8s.io/e2e-test-images/nginx:1.14-2|e2e-test-images/nginx:1.14-2|"
  "cri-hostnet-nginx|gcr.io/k8s-staging-cri-tools/hostnet-nginx-amd64|k8s-staging-cri-tools/hostnet-nginx-amd64:latest|"
  "cri-user-uid|gcr.io/k8s-staging-cri-tools/test-image-user-uid|k8s-staging-cri-tools/test-image-user-uid:latest|"
  "cri-user-username|gcr.io/k8s-staging-cri-tools/test-image-user-username|k8s-staging-cri-tools/test-image-user-username:latest|"
  "cri-user-uid-group|gcr.io/k8s-staging-cri-tools/test-image-user-uid-group|k8s-staging-cri-tools/test-image-user-uid-group:latest|"
  "cri-user-username-group|gcr.io/k8s-staging-cri-tools/test-image-user-username-group|k8s-staging-cri-tools/test-image-user-username-group:latest|"
  "cri-predefined-group|gcr.io/k8s-staging-cri-tools/test-image-predefined-group|k8s-staging-cri-tools/test-image-predefined-group:latest|"
  "cri-test-image-latest|gcr.io/k8s-staging-cri-tools/test-image-latest|k8s-staging-cri-tools/test-image-latest:latest|"
  "cri-test-image-tag-test|gcr.io/k8s-staging-cri-tools/test-image-tag:test|k8s-staging-cri-tools/test-image-tag:test|"
  "cri-test-image-tag-all|gcr.io/k8s-staging-cri-tools/test-image-tag:all|k8s-staging-cri-tools/test-image-tag:all|"
  # pulled by its digest in the specs (a local build cannot have upstream's digest)
  "cri-test-image-digest|gcr.io/k8s-staging-cri-tools/test-image-digest:latest|k8s-staging-cri-tools/test-image-digest:latest|"
  "cri-test-image-1|gcr.io/k8s-staging-cri-tools/test-image-1:latest|k8s-staging-cri-tools/test-image-1:latest|"
  "cri-test-image-2|gcr.io/k8s-staging-cri-tools/test-image-2:latest|k8s-staging-cri-tools/test-image-2:latest|"
  "cri-test-image-3|gcr.io/k8s-staging-cri-tools/test-image-3:latest|k8s-staging-cri-tools/test-image-3:latest|"
  "cri-test-image-tags|gcr.io/k8s-staging-cri-tools/test-image-tags:1|k8s-staging-cri-tools/test-image-tags:1|"
  "cri-test-image-tags|gcr.io/k8s-staging-cri-tools/test-image-tags:2|k8s-staging-cri-tools/test-image-tags:2|"
  "cri-test-image-tags|gcr.io/k8s-staging-cri-tools/test-image-tags:3|k8s-staging-cri-tools/test-image-tags:3|"
)

die() { echo "test-images: $*" >&2; exit 1; }

LOG=$(mktemp /tmp/test-images.XXXXXX.log)
trap 'rm -f "$LOG"' EXIT
# Runs a command with its output kept in $LOG, shown only if it fails.
quiet() {
  if ! "$@" >>"$LOG" 2>&1; then
    tail -n 40 "$LOG" >&2
    die "failed: $*"
  fi
}

for tool in umoci skopeo gcc tar curl jq flock sha256sum dpkg apt-get setfattr; do
  command -v "$tool" >/dev/null || die "$tool is missing (run scripts/host-packages.sh)"
done

# Started before the lock is taken: a registry spawned while this script holds the lock fd would inherit it
# and keep every later run waiting.
bash "$ROOT/scripts/test-registry.sh" start

mkdir -p "$DIR" "$CACHE/debs" "$CACHE/stamps"
# One build at a time: test files run as parallel processes and may all ask for the images at once.
exec 8>"$DIR/images.lock"
flock -w 300 8 || die "timed out waiting for $DIR/images.lock"

# --- inputs -------------------------------------------------------------------------------------------------

# The dynamically linked busybox (not busybox-static, which runs applets in-process and so never execs them).
busybox_deb() {
  local deb
  deb=$(find "$CACHE/debs" -name 'busybox_*.deb' -print -quit)
  if [[ -z $deb ]]; then
    if ! (cd "$CACHE/debs" && apt-get download -q busybox) >>"$LOG" 2>&1; then
      quiet apt-get update -q # a fresh machine may have no package lists yet
      (cd "$CACHE/debs" && quiet apt-get download -q busybox)
    fi
    deb=$(find "$CACHE/debs" -name 'busybox_*.deb' -print -quit)
    [[ -n $deb ]] || die "apt-get download busybox left no .deb in $CACHE/debs"
  fi
  echo "$deb"
}

DEB=$(busybox_deb)
HASH=$(
  {
    sha256sum "${BASH_SOURCE[0]}" "$SRC/pause.c" "$SRC/httpd.c" "$DEB" | cut -d' ' -f1
    gcc -dumpfullversion
    umoci --version
  } | sha256sum | cut -c1-16
)
STAMP=$CACHE/stamps/$HASH

# --- helpers ------------------------------------------------------------------------------------------------

# Writes an uncompressed layer tar of everything under $1 to $2: sorted, numeric owners, fixed mtimes, user.*
# xattrs kept (as pax SCHILY.xattr records), entries without a "./" prefix.
mklayer() {
  local root=$1 out=$2
  local -a entries
  mapfile -t entries < <(cd "$root" && LC_ALL=C ls -A | LC_ALL=C sort)
  (cd "$root" && LC_ALL=C tar --create --file="$out" --sort=name --format=pax --numeric-owner \
    --mtime="@$EPOCH" --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime' \
    --xattrs --xattrs-include='user.*' -- "${entries[@]}")
}

# Copies a dynamically linked binary's shared libraries and loader into a rootfs at the paths ldd reports.
copy_libs() {
  local bin=$1 rootfs=$2 lib
  for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
}

write_passwd() {
  local etc=$1
  mkdir -p "$etc"
  cat >"$etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
www-data:x:33:33:www-data:/home/www:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
  # www-data is also in "users" so tests can check supplementary groups from /etc/group.
  cat >"$etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
bin:x:2:
www-data:x:33:
users:x:100:www-data
nogroup:x:65534:
GROUP
  printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >"$etc/nsswitch.conf"
}

# --- image builds -------------------------------------------------------------------------------------------

build_pause() {
  local root=$BUILD/pause-root
  mkdir -p "$root"
  quiet gcc -static -O2 -s -Wall -o "$root/pause" "$SRC/pause.c"
  mklayer "$root" "$BUILD/pause.tar"
  quiet umoci new --image "$LAYOUT:pause-3.9"
  quiet umoci raw add-layer --image "$LAYOUT:pause-3.9" --history.created "$CREATED" "$BUILD/pause.tar"
  # Like the upstream pause image: runs as 65535:65535, needing no /etc/passwd.
  quiet umoci config --image "$LAYOUT:pause-3.9" --created "$CREATED" --config.entrypoint /pause \
    --config.user 65535:65535 --config.env "$PATH_ENV"
}

build_busybox() {
  local root=$BUILD/busybox-root x=$BUILD/busybox-deb applet
  quiet dpkg -x "$DEB" "$x"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,root,home/www,tmp,proc,sys,dev,var}
  cp "$x/bin/busybox" "$root/bin/busybox"
  copy_libs "$x/bin/busybox" "$root"
  # Hard links, not symlinks or busybox-static's in-process applets, so `sh -c ls` really execs /bin/ls.
  for applet in $("$root/bin/busybox" --list); do
    [[ $applet == busybox || -e $root/bin/$applet ]] || ln "$root/bin/busybox" "$root/bin/$applet"
  done
  ln "$root/bin/busybox" "$root/usr/bin/env" # for "#!/usr/bin/env sh" scripts
  write_passwd "$root/etc"
  chmod 1777 "$root/tmp"
  chmod 0700 "$root/root"
  chown 33:33 "$root/home/www"
  mklayer "$root" "$BUILD/busybox.tar"
  quiet umoci new --image "$LAYOUT:busybox-1.36"
  quiet umoci raw add-layer --image "$LAYOUT:busybox-1.36" --history.created "$CREATED" "$BUILD/busybox.tar"
  quiet umoci config --image "$LAYOUT:busybox-1.36" --created "$CREATED" --config.cmd sh --config.env "$PATH_ENV"
  quiet umoci config --image "$LAYOUT:busybox-1.36" --tag busybox-1.36-user --created "$CREATED" \
    --config.user www-data --config.workingdir /home/www
}

# Expected final tree of /data in docker.io/crimux/layers:1 (test/fixtures/images.ts has the same facts):
#   /data/b            "b\n", 0644, 0:0
#   /data/b-hardlink   hard link to /data/b (same inode)
#   /data/c            "c\n" (layer 3)
#   /data/dir/y        "y\n" (layer 2; /data/dir/x is hidden by the opaque whiteout)
#   /data/link         symlink -> b
#   /data/secret       "secret\n", 0640, 33:33
#   /data/xattr        "xattr\n", xattr user.crimux=1
#   gone: /data/a (whiteout .wh.a), /data/dir/x (opaque .wh..wh..opq)
build_layers() {
  local l1=$BUILD/layers-1 l2=$BUILD/layers-2 l3=$BUILD/layers-3
  mkdir -p "$l1/data/dir" "$l2/data/dir" "$l3/data"
  echo a >"$l1/data/a"
  echo b >"$l1/data/b"
  echo x >"$l1/data/dir/x"
  ln -s b "$l1/data/link"
  ln "$l1/data/b" "$l1/data/b-hardlink"
  echo secret >"$l1/data/secret"
  chown 33:33 "$l1/data/secret"
  chmod 0640 "$l1/data/secret"
  echo xattr >"$l1/data/xattr"
  setfattr -n user.crimux -v 1 "$l1/data/xattr"
  : >"$l2/data/.wh.a"
  : >"$l2/data/dir/.wh..wh..opq"
  echo y >"$l2/data/dir/y"
  echo c >"$l3/data/c"
  local i
  for i in 1 2 3; do mklayer "$BUILD/layers-$i" "$BUILD/layers-$i.tar"; done
  quiet umoci raw add-layer --image "$LAYOUT:busybox-1.36" --tag layers-1 --history.created "$CREATED" \
    "$BUILD/layers-1.tar"
  for i in 2 3; do
    quiet umoci raw add-layer --image "$LAYOUT:layers-1" --history.created "$CREATED" "$BUILD/layers-$i.tar"
  done
}

build_multiarch() {
  mkdir -p "$BUILD/arch-amd64" "$BUILD/arch-arm64"
  echo amd64 >"$BUILD/arch-amd64/arch"
  echo arm64 >"$BUILD/arch-arm64/arch"
  mklayer "$BUILD/arch-amd64" "$BUILD/arch-amd64.tar"
  mklayer "$BUILD/arch-arm64" "$BUILD/arch-arm64.tar"
  # amd64 runs (busybox-based); arm64 is a one-file image that only needs to be selectable by platform.
  quiet umoci raw add-layer --image "$LAYOUT:busybox-1.36" --tag multiarch-1-amd64 --history.created "$CREATED" \
    "$BUILD/arch-amd64.tar"
  quiet umoci new --image "$LAYOUT:multiarch-1-arm64"
  quiet umoci raw add-layer --image "$LAYOUT:multiarch-1-arm64" --history.created "$CREATED" "$BUILD/arch-arm64.tar"
  quiet umoci config --image "$LAYOUT:multiarch-1-arm64" --created "$CREATED" --architecture arm64 --os linux \
    --config.cmd /bin/sh
}

# umoci cannot write image indexes, so the multi-arch index is written by hand: a blob listing both manifests
# with their platforms, tagged multiarch-1 in the layout's index.json. Run after `umoci gc`, which might not
# follow nested indexes.
write_multiarch_index() {
  local amd arm index digest size
  amd=$(jq -c '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "multiarch-1-amd64")
    | {mediaType, digest, size, platform: {architecture: "amd64", os: "linux"}}' "$LAYOUT/index.json")
  arm=$(jq -c '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "multiarch-1-arm64")
    | {mediaType, digest, size, platform: {architecture: "arm64", os: "linux"}}' "$LAYOUT/index.json")
  [[ -n $amd && -n $arm ]] || die "multiarch manifests missing from $LAYOUT/index.json"
  index=$(jq -cn --argjson amd "$amd" --argjson arm "$arm" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [$amd, $arm]}')
  printf '%s' "$index" >"$BUILD/index.json"
  digest=$(sha256sum "$BUILD/index.json" | cut -d' ' -f1)
  size=$(stat -c %s "$BUILD/index.json")
  cp "$BUILD/index.json" "$LAYOUT/blobs/sha256/$digest"
  jq --arg d "sha256:$digest" --argjson s "$size" \
    '.manifests += [{mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: $s,
      annotations: {"org.opencontainers.image.ref.name": "multiarch-1"}}]' "$LAYOUT/index.json" >"$BUILD/layout-index.json"
  mv "$BUILD/layout-index.json" "$LAYOUT/index.json"
}

build_http() {
  local root=$BUILD/http-root
  mkdir -p "$root/tmp"
  quiet gcc -static -O2 -s -Wall -o "$root/httpd" "$SRC/httpd.c"
  write_passwd "$root/etc"
  chmod 1777 "$root/tmp"
  mklayer "$root" "$BUILD/http.tar"
  quiet umoci new --image "$LAYOUT:http-1"
  quiet umoci raw add-layer --image "$LAYOUT:http-1" --history.created "$CREATED" "$BUILD/http.tar"
  quiet umoci config --image "$LAYOUT:http-1" --created "$CREATED" --config.entrypoint /httpd \
    --config.exposedports 8080/tcp --config.env "$PATH_ENV"
}

# --- conformance images (CONFORMANCE_IMAGES above) ----------------------------------------------------------

# Each a tag of busybox or http with its own image config; the "different image" ones add one file named after
# themselves so that their IDs differ, as upstream's image-test Dockerfile does.
build_conformance() {
  local x=$BUILD/conformance name user
  mkdir -p "$x/pgrep/bin" "$x/group/etc"
  # busybox 1.29's pgrep, which upstream's specs call and Debian's busybox lacks: command names matching $1.
  cat >"$x/pgrep/bin/pgrep" <<'PGREP'
#!/bin/sh
rc=1
for d in /proc/[0-9]*; do
  c=$(cat "$d/comm" 2>/dev/null) || continue
  case $c in *"$1"*) echo "${d#/proc/}"; rc=0 ;; esac
done
exit $rc
PGREP
  chmod 0755 "$x/pgrep/bin/pgrep"
  mklayer "$x/pgrep" "$x/pgrep.tar"
  quiet umoci raw add-layer --image "$LAYOUT:busybox-1.36" --tag e2e-busybox --history.created "$CREATED" "$x/pgrep.tar"
  quiet umoci config --image "$LAYOUT:http-1" --tag e2e-nginx --created "$CREATED" --config.cmd 80 \
    --config.exposedports 80/tcp
  quiet umoci config --image "$LAYOUT:http-1" --tag cri-hostnet-nginx --created "$CREATED" --config.cmd 12003
  for user in uid:1002 username:www-data uid-group:1003:users username-group:www-data:users; do
    quiet umoci config --image "$LAYOUT:busybox-1.36" --tag "cri-user-${user%%:*}" --created "$CREATED" \
      --config.user "${user#*:}"
  done
  # default-user (1000) is also in group-defined-in-image (50000), which only this image's /etc/group names.
  write_passwd "$x/group/etc"
  echo 'default-user:x:1000:1000::/home/default-user:/bin/sh' >>"$x/group/etc/passwd"
  printf 'default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n' >>"$x/group/etc/group"
  mklayer "$x/group" "$x/group.tar"
  quiet umoci raw add-layer --image "$LAYOUT:busybox-1.36" --tag cri-predefined-group --history.created "$CREATED" \
    "$x/group.tar"
  quiet umoci config --image "$LAYOUT:cri-predefined-group" --created "$CREATED" --config.user 1000
  for name in latest tag-test tag-all digest 1 2 3 tags; do
    mkdir -p "$x/test-image-$name"
    echo "$name" >"$x/test-image-$name/test-image-$name"
    mklayer "$x/test-image-$name" "$x/test-image-$name.tar"
    quiet umoci raw add-layer --image "$LAYOUT:busybox-1.36" --tag "cri-test-image-$name" \
      --history.created "$CREATED" "$x/test-image-$name.tar"
  done
}

build_all() {
  rm -rf "$BUILD" "$LAYOUT" "$CACHE"/stamps/*
  mkdir -p "$BUILD"
  quiet umoci init --layout "$LAYOUT"
  build_pause
  build_busybox
  build_layers
  build_multiarch
  build_http
  build_conformance
  quiet umoci gc --layout "$LAYOUT"
  write_multiarch_index
  rm -rf "$BUILD"
  touch "$STAMP"
}

# --- push ---------------------------------------------------------------------------------------------------

registry_has() {
  local repo=${1%:*} tag=${1##*:}
  curl -fsS -o /dev/null -I --max-time 5 \
    -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REG/v2/$repo/manifests/$tag" 2>/dev/null
}

POLICY=$CACHE/policy.json
# Our own trust policy, so pushes do not depend on /etc/containers/policy.json being present or permissive.
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$POLICY"

built=0
if [[ ! -f $STAMP || ! -f $LAYOUT/index.json ]]; then
  build_all
  built=1
fi

# === hostile images for test/security/ (issue #19, host-sec) ===============================================
# Images an attacker would publish, each busybox plus one layer. Built into the same layout (after the main
# build and gc) with their own stamp, so the main images above are untouched by changes here.
#   hostile-fifo-passwd:1    /etc/passwd and /etc/group are FIFOs (an open for reading blocks until a writer)
#   hostile-symlink-etc:1    /etc/hosts, /etc/resolv.conf, /etc/hostname are symlinks to host paths
#   hostile-setuid:1         /bin/suid-busybox is busybox, owned by root, mode 4755
SEC_HOSTILE_IMAGES=(
  "hostile-fifo-passwd-1|docker.io/crimux/hostile-fifo-passwd:1|crimux/hostile-fifo-passwd:1|"
  "hostile-symlink-etc-1|docker.io/crimux/hostile-symlink-etc:1|crimux/hostile-symlink-etc:1|"
  "hostile-setuid-1|docker.io/crimux/hostile-setuid:1|crimux/hostile-setuid:1|"
)
SEC_HOSTILE_STAMP=$CACHE/hostile-stamps/$(printf '%s %s' "$HASH" "$(sha256sum "${BASH_SOURCE[0]}")" | sha256sum | cut -c1-16)

sec_hostile_layer() { # key, then a function that fills the layer root
  local key=$1 fill=$2 root=$BUILD/$1
  rm -rf "$root" && mkdir -p "$root"
  "$fill" "$root"
  mklayer "$root" "$BUILD/$key.tar"
  quiet umoci raw add-layer --image "$LAYOUT:busybox-1.36" --tag "$key" --history.created "$CREATED" \
    "$BUILD/$key.tar"
}
sec_fill_fifo_passwd() { mkdir -p "$1/etc" && mkfifo "$1/etc/passwd" "$1/etc/group"; }
sec_fill_symlink_etc() {
  mkdir -p "$1/etc"
  ln -s /tmp/crimux-hostile-hosts-target "$1/etc/hosts"
  ln -s ../../../../../../../tmp/crimux-hostile-resolv-target "$1/etc/resolv.conf"
  ln -s /proc/1/root/etc/hostname "$1/etc/hostname"
}
sec_fill_setuid() {
  local x=$BUILD/hostile-deb
  quiet dpkg -x "$DEB" "$x"
  mkdir -p "$1/bin"
  cp "$x/bin/busybox" "$1/bin/suid-busybox"
  chown 0:0 "$1/bin/suid-busybox"
  chmod 4755 "$1/bin/suid-busybox"
}

sec_hostile_built=0
if ((built)) || [[ ! -f $SEC_HOSTILE_STAMP ]] || ! jq -e '[.manifests[].annotations["org.opencontainers.image.ref.name"]]
    | index("hostile-setuid-1")' "$LAYOUT/index.json" >/dev/null; then
  mkdir -p "$BUILD" "$CACHE/hostile-stamps"
  sec_hostile_layer hostile-fifo-passwd-1 sec_fill_fifo_passwd
  sec_hostile_layer hostile-symlink-etc-1 sec_fill_symlink_etc
  sec_hostile_layer hostile-setuid-1 sec_fill_setuid
  rm -rf "$BUILD" "$CACHE"/hostile-stamps/*
  touch "$SEC_HOSTILE_STAMP"
  sec_hostile_built=1
fi
for entry in "${SEC_HOSTILE_IMAGES[@]}"; do
  IFS='|' read -r key ref local flags <<<"$entry"
  if ((sec_hostile_built)) || ! registry_has "$local"; then
    quiet skopeo --policy "$POLICY" copy --quiet --retry-times 2 --dest-tls-verify=false \
      "oci:$LAYOUT:$key" "docker://$REG/$local"
    registry_has "$local" || die "pushed $ref but $REG does not list $local"
    echo "test-images: pushed $ref" >&2
  fi
done
# === end hostile images ========================================================================================

pushed=()
for entry in "${IMAGES[@]}" "${CONFORMANCE_IMAGES[@]}"; do
  IFS='|' read -r key ref local flags <<<"$entry"
  if ((built)) || ! registry_has "$local"; then
    # shellcheck disable=SC2086 # flags is a word list
    quiet skopeo --policy "$POLICY" copy --quiet --retry-times 2 --dest-tls-verify=false $flags \
      "oci:$LAYOUT:$key" "docker://$REG/$local"
    registry_has "$local" || die "pushed $ref but $REG does not list $local"
    pushed+=("$ref")
  fi
done

if ((built || ${#pushed[@]} > 0)); then
  echo "test-images: $( ((built)) && echo 'built all, ')pushed ${#pushed[@]} image(s) to $REG" >&2
fi

# --- hostile images (issue #19, rkt-sec; a separate block) ----------------------------------------------------
# Tagged in the same layout on top of busybox, rebuilt whenever the layout was rebuilt (a missing tag), pushed
# when the registry lacks them. test/fixtures/images.ts HOSTILE names them and what each carries.
#   hostile-noenv-1        busybox without any Env (a request's env then comes first, as in the #19 reproduction)
#   hostile-fifo-etc-1     /etc/passwd, /etc/group and /etc/hosts are FIFOs (an open without O_NONBLOCK hangs)
#   hostile-hosts-link-1   /etc/hosts -> /usr/bin/env (a mount following it lands on the pod's /usr/bin/env)
#   hostile-blockdev-2     /disk-vda (b 254:0), /disk-sda (b 8:0), /disk-zram (b 253:0): host block devices
HOSTILE=(
  "hostile-noenv-1|docker.io/crimux/hostile-noenv:1|crimux/hostile-noenv:1"
  "hostile-fifo-etc-1|docker.io/crimux/hostile-fifo-etc:1|crimux/hostile-fifo-etc:1"
  "hostile-hosts-link-1|docker.io/crimux/hostile-hosts-link:1|crimux/hostile-hosts-link:1"
  "hostile-blockdev-2|docker.io/crimux/hostile-blockdev:2|crimux/hostile-blockdev:2"
)

# Adds the tree under $2 as one layer on busybox, tagged $1.
hostile_layer() {
  local key=$1 root=$2
  mklayer "$root" "$BUILD/$key.tar"
  quiet umoci raw add-layer --image "$LAYOUT:busybox-1.36" --tag "$key" --history.created "$CREATED" "$BUILD/$key.tar"
}

build_hostile() {
  local key=$1 root=$BUILD/$1
  rm -rf "$root" && mkdir -p "$root"
  case $key in
    hostile-noenv-1)
      quiet umoci config --image "$LAYOUT:busybox-1.36" --tag "$key" --created "$CREATED" --clear=config.env ;;
    hostile-fifo-etc-1)
      write_passwd "$root/etc"
      rm -f "$root/etc/passwd" "$root/etc/group"
      mkfifo "$root/etc/passwd" "$root/etc/group" "$root/etc/hosts"
      hostile_layer "$key" "$root" ;;
    hostile-hosts-link-1)
      mkdir -p "$root/etc" && ln -s /usr/bin/env "$root/etc/hosts"
      hostile_layer "$key" "$root" ;;
    hostile-blockdev-2)
      mknod "$root/disk-vda" b 254 0 && mknod "$root/disk-sda" b 8 0 && mknod "$root/disk-zram" b 253 0 && chmod 0666 "$root"/disk-*
      hostile_layer "$key" "$root" ;;
  esac
}

mkdir -p "$BUILD"
for entry in "${HOSTILE[@]}"; do
  IFS='|' read -r key ref local <<<"$entry"
  if ! umoci stat --image "$LAYOUT:$key" >/dev/null 2>&1; then
    build_hostile "$key"
    quiet skopeo --policy "$POLICY" copy --quiet --retry-times 2 --dest-tls-verify=false "oci:$LAYOUT:$key" "docker://$REG/$local"
  elif ! registry_has "$local"; then
    quiet skopeo --policy "$POLICY" copy --quiet --retry-times 2 --dest-tls-verify=false "oci:$LAYOUT:$key" "docker://$REG/$local"
  fi
  registry_has "$local" || die "pushed $ref but $REG does not list $local"
done
rm -rf "$BUILD"
