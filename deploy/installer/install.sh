#!/usr/bin/env bash
# Installs crimux on the node from the installer DaemonSet (the kata-deploy pattern): the kubelet's runtime cannot
# run inside a pod that the same runtime must start, so this copies the daemon and its config to the HOST and
# hands it to the host's systemd. Idempotent: a second run changes nothing and restarts nothing; a run with a new
# image or config replaces the files and restarts the daemon (containers survive: KillMode=process).
#
#   install.sh            (environment below; ROOT=/host in the DaemonSet)
#
# Environment: ROOT (host root as seen here, default /host), CRIMUX_SRC (the image's crimux tree, /opt/crimux),
# CONFIG_SRC (the ConfigMap mount with crimux.json and 10-crimux.conflist, /etc/crimux-config), NODE_NAME and
# NODE_IP (downward API), SYSTEMCTL, KUBECTL, NODE (seams for tests), SOCKET_TIMEOUT (seconds, 90),
# OOM_SCORE_ADJ (-999; empty leaves the line out), LIMIT_NOFILE (1048576).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"

SRC=${CRIMUX_SRC:-/opt/crimux}
CONFIG_SRC=${CONFIG_SRC:-/etc/crimux-config}
NODE_IP=${NODE_IP:-}
SOCKET_TIMEOUT=${SOCKET_TIMEOUT:-90}
OOM_SCORE_ADJ=${OOM_SCORE_ADJ--999}
LIMIT_NOFILE=${LIMIT_NOFILE:-1048576}

CHANGED=0 # set when a file the running daemon uses was replaced: a restart is due
MANIFEST_ENTRIES=()
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# --- bookkeeping --------------------------------------------------------------------------------------------

load_manifest() {
  MANIFEST_ENTRIES=()
  [[ -f $ROOT$MANIFEST ]] && mapfile -t MANIFEST_ENTRIES <"$ROOT$MANIFEST"
  return 0
}

in_manifest() {
  local e
  for e in "${MANIFEST_ENTRIES[@]}"; do [[ $e == "$1" ]] && return 0; done
  return 1
}

# Notes a host path as ours and rewrites the manifest at once (as soon as its directory exists), so a run that
# fails half-way can still be undone by uninstall.sh.
record() {
  in_manifest "$1" || MANIFEST_ENTRIES+=("$1")
  [[ -d $ROOT$ETC_DIR ]] || return 0
  printf '%s\n' "${MANIFEST_ENTRIES[@]}" | sort -u >"$ROOT$MANIFEST.tmp"
  if ! cmp -s "$ROOT$MANIFEST.tmp" "$ROOT$MANIFEST"; then mv "$ROOT$MANIFEST.tmp" "$ROOT$MANIFEST"; fi
  rm -f "$ROOT$MANIFEST.tmp"
}

# mkdir -p that records each directory it had to create (so uninstall removes only those).
make_dirs() {
  local dir=$1 missing=() d
  while [[ ! -d $ROOT$dir ]]; do
    missing=("$dir" "${missing[@]}")
    dir=$(dirname "$dir")
  done
  for d in "${missing[@]}"; do
    mkdir -m 0755 "$ROOT$d"
    record "$d"
  done
}

# Writes a file atomically when its content or mode differs; returns 0 when it changed something.
put_file() {
  local src=$1 dst=$2 mode=$3
  if [[ -f $ROOT$dst ]] && cmp -s "$src" "$ROOT$dst" && [[ $(stat -c %a "$ROOT$dst") == "${mode#0}" ]]; then
    return 1
  fi
  make_dirs "$(dirname "$dst")"
  install -m "$mode" "$src" "$ROOT$dst.crimux-new"
  mv -f "$ROOT$dst.crimux-new" "$ROOT$dst"
  return 0
}

# --- checks before anything on the host changes ----------------------------------------------------------------

# Resolves a binary the daemon will run on the host: absolute paths as given, bare names on the usual PATH.
host_has() {
  local bin=$1 d
  if [[ $bin == /* ]]; then
    [[ -x $ROOT$bin ]]
    return
  fi
  for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
    [[ -x $ROOT$d/$bin ]] && return 0
  done
  return 1
}

# The host packages each backend drives (the daemon runs on the host and uses the host's tools; the image ships
# none of them). A missing one fails the install with the Debian package to add, instead of a backend that is
# silently down.
check_host_tools() {
  local cfg=$1 b missing=()
  for b in $ENABLED; do
    case $b in
      runc)
        host_has "$(config_get "$cfg" backends.runc.runtimePath /usr/sbin/runc)" || missing+=("runc (package runc)")
        host_has "$(config_get "$cfg" backends.runc.conmonPath /usr/bin/conmon)" || missing+=("conmon (package conmon)")
        ;;
      vm)
        host_has "$(config_get "$cfg" backends.vm.qemuPath qemu-system-x86_64)" ||
          missing+=("qemu-system-x86_64 (package qemu-system-x86)")
        host_has "$(config_get "$cfg" backends.vm.qemuImgPath qemu-img)" || missing+=("qemu-img (package qemu-utils)")
        ;;
      docker)
        host_has dockerd || missing+=("dockerd (package docker.io)")
        ;;
      rkt)
        host_has "$(config_get "$cfg" backends.rkt.stage1.nspawnPath systemd-nspawn)" ||
          missing+=("systemd-nspawn (package systemd-container)")
        host_has "$(config_get "$cfg" backends.rkt.stage1.conmonPath conmon)" || missing+=("conmon (package conmon)")
        ;;
    esac
  done
  if ((${#missing[@]} > 0)); then
    die "the host lacks what the enabled backends ($ENABLED) drive: ${missing[*]}"
  fi
}

# Renders the config (the only substitution: @NODE_IP@, for a metrics address on the node's own IP), checks it
# with the daemon's own validator, and reads what the installer needs from it.
prepare_config() {
  local src=$CONFIG_SRC/crimux.json
  if [[ ! -f $src ]]; then
    src=$SRC/config/crimux.json
    log "no $CONFIG_SRC/crimux.json mounted; using the image default $src"
  fi
  if grep -q '@NODE_IP@' "$src" && [[ -z $NODE_IP ]]; then
    die "$src uses @NODE_IP@ but NODE_IP is not set (downward API status.hostIP)"
  fi
  sed "s/@NODE_IP@/$NODE_IP/g" "$src" >"$WORK/crimux.json"
  local out
  if ! out=$("$NODE" "$SRC/dist/src/cli/main.js" config check "$WORK/crimux.json" 2>&1); then
    die "config rejected by crimux config check: $out"
  fi
  ENABLED=$(enabled_backends "$WORK/crimux.json")
  [[ -n $ENABLED ]] || die "no backend is enabled in $src (backends.<kind>.enabled)"
  SOCKET=$(config_get "$WORK/crimux.json" socket.path /run/crimux/crimux.sock)
}

render_unit() {
  [[ $LIMIT_NOFILE =~ ^([0-9]+|infinity)$ ]] || die "LIMIT_NOFILE must be a number or infinity"
  if [[ -z $OOM_SCORE_ADJ ]]; then
    sed -e '/^OOMScoreAdjust=/d' -e "s/@LIMIT_NOFILE@/$LIMIT_NOFILE/" "$HERE/crimux.service" >"$WORK/unit"
  else
    if ! [[ $OOM_SCORE_ADJ =~ ^-?[0-9]+$ ]] || ((OOM_SCORE_ADJ < -1000 || OOM_SCORE_ADJ > 1000)); then
      die "OOM_SCORE_ADJ must be an integer in [-1000, 1000]"
    fi
    sed -e "s/@OOM_SCORE_ADJ@/$OOM_SCORE_ADJ/" -e "s/@LIMIT_NOFILE@/$LIMIT_NOFILE/" "$HERE/crimux.service" >"$WORK/unit"
  fi
}

# --- installing -------------------------------------------------------------------------------------------------

# /opt/crimux is wholly ours: replaced as one directory when anything in the image's tree differs.
install_tree() {
  local dst=$ROOT$PREFIX
  if [[ -d $dst ]] && diff -rq --no-dereference "$SRC" "$dst" >/dev/null 2>&1; then
    record "$PREFIX"
    return 0
  fi
  make_dirs "$(dirname "$PREFIX")"
  rm -rf "$dst.crimux-new" "$dst.crimux-old"
  cp -a "$SRC" "$dst.crimux-new"
  [[ -d $dst ]] && mv "$dst" "$dst.crimux-old"
  mv "$dst.crimux-new" "$dst"
  rm -rf "$dst.crimux-old"
  record "$PREFIX"
  CHANGED=1
  log "installed $PREFIX"
}

# The pod network config only goes where the node has none: a node that already runs a CNI (flannel, calico...)
# keeps it, and crimux then uses that network like any CRI runtime would.
install_cni() {
  local src=$CONFIG_SRC/10-crimux.conflist
  [[ -f $src ]] || src=$SRC/config/cni/10-crimux.conflist
  if in_manifest "$CNI_FILE"; then
    put_file "$src" "$CNI_FILE" 0644 && log "updated $CNI_FILE"
    return 0
  fi
  local existing
  existing=$(find "$ROOT$CNI_DIR" -maxdepth 1 -type f \( -name '*.conf' -o -name '*.conflist' -o -name '*.json' \) \
    -printf '%f ' 2>/dev/null || true)
  if [[ -n $existing ]]; then
    log "keeping the node's CNI config in $CNI_DIR ($existing)"
    return 0
  fi
  make_dirs "$CNI_DIR"
  put_file "$src" "$CNI_FILE" 0644 || true
  record "$CNI_FILE"
  log "installed $CNI_FILE"
}

install_files() {
  make_dirs "$ETC_DIR"
  install_tree
  if put_file "$WORK/crimux.json" "$CONFIG_PATH" 0644; then
    CHANGED=1
    log "installed $CONFIG_PATH"
  fi
  record "$CONFIG_PATH"
  install_cni
  UNIT_CHANGED=0
  if put_file "$WORK/unit" "$UNIT_PATH" 0644; then
    UNIT_CHANGED=1
    CHANGED=1
    log "installed $UNIT_PATH"
  fi
  record "$UNIT_PATH"
}

# Starts the unit (or restarts it when files changed) and waits, bounded, for a socket newer than that moment.
start_service() {
  ((UNIT_CHANGED)) && sysctl_ daemon-reload
  sysctl_ enable "$UNIT_NAME" >&2
  local marker=$WORK/started restarted=0
  touch "$marker"
  if ! sysctl_ is-active --quiet "$UNIT_NAME"; then
    log "starting $UNIT_NAME"
    sysctl_ start "$UNIT_NAME"
    restarted=1
  elif ((CHANGED)); then
    log "restarting $UNIT_NAME (files changed; running containers are kept)"
    sysctl_ restart "$UNIT_NAME"
    restarted=1
  fi
  local deadline=$((SECONDS + SOCKET_TIMEOUT))
  while ((SECONDS < deadline)); do
    if [[ -S $ROOT$SOCKET ]] && { ((restarted == 0)) || [[ $ROOT$SOCKET -nt $marker ]]; }; then
      log "socket $SOCKET is up"
      return 0
    fi
    sleep 0.5
  done
  die "no socket at $SOCKET within ${SOCKET_TIMEOUT}s; see: journalctl -u $UNIT_NAME"
}

label() {
  local args=("$LABEL_PREFIX/installed=true" "$LABEL_PREFIX/backends=${ENABLED// /.}") b
  for b in "${BACKENDS[@]}"; do
    if [[ " $ENABLED " == *" $b "* ]]; then args+=("$LABEL_PREFIX/$b=true"); else args+=("$LABEL_PREFIX/$b-"); fi
  done
  label_node "${args[@]}"
}

main() {
  [[ -d $ROOT ]] || die "host root $ROOT does not exist"
  [[ -f $SRC/dist/src/cli/main.js ]] || die "no built crimux at $SRC (dist/src/cli/main.js)"
  prepare_config
  check_host_tools "$WORK/crimux.json"
  render_unit
  load_manifest
  install_files
  start_service
  label
  log "crimux is installed: backends ${ENABLED// /, }; kubelet endpoint unix://$SOCKET"
}

main "$@"
