#!/usr/bin/env bash
# Restores the node: stops and removes crimux.service and exactly the files install.sh recorded in its manifest,
# and removes the node labels. Run by the installer DaemonSet's preStop hook (the pod goes away when the
# DaemonSet is deleted or the node loses the crimux.io/install label) or by hand.
#
#   uninstall.sh [--purge] [--force]
#
# --purge  also deletes the daemon's state (stateDir, runDir: ownership records, images, backend state); without
#          it they are kept, so a reinstall picks up every pod that still runs.
# --force  uninstall even when the kubelet is configured to use crimux's socket. Without it that case is refused
#          (exit 3): removing the kubelet's runtime would take the node down, and a DaemonSet rolling update runs
#          this hook too. Point the kubelet back at its previous runtime (and drain the node) first.
# Environment as install.sh (ROOT, SYSTEMCTL, KUBECTL, NODE, NODE_NAME) plus PROC (/proc of the host, hostPID).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"

PURGE=0
FORCE=0
for arg in "$@"; do
  case $arg in
    --purge) PURGE=1 ;;
    --force) FORCE=1 ;;
    *) die "usage: uninstall.sh [--purge] [--force]" ;;
  esac
done

CFG=$ROOT$CONFIG_PATH
cfg_get() {
  if [[ -f $CFG ]]; then config_get "$CFG" "$1" "$2"; else echo "$2"; fi
}
SOCKET=$(cfg_get socket.path /run/crimux/crimux.sock)
STATE_DIR=$(cfg_get stateDir /var/lib/crimux)
RUN_DIR=$(cfg_get runDir /run/crimux)

# Prints where the kubelet is pointed at crimux's socket, if anywhere: its config files and the command line
# of a running kubelet (and the --config file that names).
kubelet_uses_crimux() {
  local files=(/var/lib/kubelet/config.yaml /var/lib/kubelet/kubeadm-flags.env /etc/default/kubelet
    /etc/sysconfig/kubelet) f comm cmdline
  for comm in "$PROC"/[0-9]*/comm; do
    [[ -r $comm && $(<"$comm") == kubelet ]] || continue
    cmdline=$(tr '\0' ' ' <"${comm%/comm}/cmdline" 2>/dev/null || true)
    if [[ $cmdline == *"$SOCKET"* ]]; then
      echo "the running kubelet's command line (${comm%/comm})"
      return 0
    fi
    [[ $cmdline =~ --config[=\ ]([^ ]+) ]] && files+=("${BASH_REMATCH[1]}")
  done
  for f in "${files[@]}"; do
    if [[ -f $ROOT$f ]] && grep -qF "$SOCKET" "$ROOT$f"; then
      echo "$f"
      return 0
    fi
  done
  return 1
}

stop_unit() {
  if [[ -e $ROOT$UNIT_PATH ]]; then
    log "stopping and disabling $UNIT_NAME (KillMode=process: running containers are left alone)"
    sysctl_ stop "$UNIT_NAME" || log "warning: systemctl stop $UNIT_NAME failed"
    sysctl_ disable "$UNIT_NAME" >&2 || log "warning: systemctl disable $UNIT_NAME failed"
  fi
  # The daemon removes its socket when it stops; one left by a crash would look like a live runtime.
  [[ -S $ROOT$SOCKET ]] && rm -f "$ROOT$SOCKET"
  return 0
}

# Removes the manifest's paths, deepest first: files, the wholly-owned /opt/crimux tree, and the directories the
# installer created, when they are empty (a directory someone else has since used is kept).
remove_installed() {
  local list=$ROOT$MANIFEST entries=() p
  if [[ ! -f $list ]]; then
    log "nothing recorded in $MANIFEST: no files to remove"
    return 0
  fi
  mapfile -t entries < <(sort -r "$list")
  for p in "${entries[@]}"; do
    [[ $p == /* && $p != *..* ]] || die "refusing odd manifest entry '$p'"
    if [[ $p == "$PREFIX" ]]; then
      rm -rf "${ROOT:?}$p"
    elif [[ -d $ROOT$p && ! -L $ROOT$p ]]; then
      [[ $p == "$ETC_DIR" ]] && rm -f "$list"
      rmdir "$ROOT$p" 2>/dev/null || log "keeping $p (not empty)"
    else
      rm -f "$ROOT$p"
    fi
  done
  rm -f "$list"
  log "removed the installed files"
}

# Deletes state only when nothing is mounted below it: overlay rootfs and netns mounts of pods that still run
# would otherwise be followed into (rm --one-file-system is the second guard).
purge_state() {
  local mounted
  mounted=$(awk -v a="$STATE_DIR" -v b="$RUN_DIR" '
    { m = $5; if (m == a || index(m, a "/") == 1 || m == b || index(m, b "/") == 1) print m }' \
    "${MOUNTINFO:-$PROC/1/mountinfo}" 2>/dev/null || true)
  if [[ -n $mounted ]]; then
    die "--purge refused: still mounted (pods still run; drain the node or reboot first): ${mounted//$'\n'/ }"
  fi
  rm -rf --one-file-system "${ROOT:?}$STATE_DIR" "${ROOT:?}$RUN_DIR"
  log "purged $STATE_DIR and $RUN_DIR"
}

main() {
  local where
  if where=$(kubelet_uses_crimux) && ((FORCE == 0)); then
    log "refusing to uninstall: the kubelet uses $SOCKET ($where). Point it at another runtime first," \
      "or run uninstall.sh --force"
    exit 3
  fi
  stop_unit
  # After stop/disable, so a failing remove never leaves a running daemon without its files.
  if [[ -e $ROOT$UNIT_PATH ]]; then
    rm -f "$ROOT$UNIT_PATH"
    sysctl_ daemon-reload || log "warning: systemctl daemon-reload failed"
  fi
  sysctl_ reset-failed "$UNIT_NAME" >/dev/null 2>&1 || true
  remove_installed
  # shellcheck disable=SC2046 # one word per label on purpose
  label_node $(all_label_removals)
  ((PURGE)) && purge_state
  log "crimux is uninstalled$( ((PURGE)) || echo "; state kept in $STATE_DIR (uninstall.sh --purge deletes it)")"
}

main
