# shellcheck shell=bash disable=SC2034 # the constants are used by the scripts that source this file
# Shared by install.sh and uninstall.sh: settings, logging, the systemctl/kubectl seams and config reads.
# Every path below is a HOST path; "$ROOT$path" is where the installer container sees it (the DaemonSet mounts
# the host's /opt, /etc, /run, /var/lib and /var/log under /host). Tests set ROOT to a scratch directory and
# SYSTEMCTL/KUBECTL to fakes, because systemd is not PID 1 on a test machine.

ROOT=${ROOT:-/host}
ROOT=${ROOT%/}
# The host's own systemctl in the host's mount namespace (hostPID makes PID 1 the host's init), so the client
# always matches the host's systemd version and no D-Bus socket has to be mounted into the pod.
SYSTEMCTL=${SYSTEMCTL:-nsenter --target 1 --mount -- systemctl}
KUBECTL=${KUBECTL:-kubectl}
NODE_NAME=${NODE_NAME:-}
# Node.js of the installer image (the daemon on the host runs the copy installed beside it, /opt/crimux/bin/node).
NODE=${NODE:-/opt/crimux/bin/node}
# Where the host's processes are seen (hostPID): the kubelet guard and the purge mount check read it.
PROC=${PROC:-/proc}

readonly UNIT_NAME=crimux.service
readonly UNIT_PATH=/etc/systemd/system/$UNIT_NAME
readonly PREFIX=/opt/crimux
readonly ETC_DIR=/etc/crimux
readonly CONFIG_PATH=$ETC_DIR/crimux.json
readonly CNI_DIR=/etc/cni/net.d
readonly CNI_FILE=$CNI_DIR/10-crimux.conflist
# Host paths this installer created (files and directories), one per line: uninstall removes exactly these.
readonly MANIFEST=$ETC_DIR/.installed-by-crimux-installer
readonly BACKENDS=(runc vm docker rkt)
readonly LABEL_PREFIX=crimux.io

log() { echo "crimux-installer: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# The systemctl seam: SYSTEMCTL may be a command with arguments, so it is split into words on purpose.
sysctl_() {
  local -a cmd
  read -r -a cmd <<<"$SYSTEMCTL"
  "${cmd[@]}" "$@"
}

# Prints one value of a crimux config file (JSON) by dotted key, or the given default when the key is absent.
# Defaults here must be the daemon's (src/config/schema.ts); only keys the installer needs are read.
config_get() {
  local file=$1 key=$2 default=$3
  "$NODE" -e '
    const [file, key, dflt] = process.argv.slice(1);
    let v = JSON.parse(require("fs").readFileSync(file, "utf8"));
    for (const k of key.split(".")) v = v === null || typeof v !== "object" ? undefined : v[k];
    process.stdout.write(v === undefined || v === null ? dflt : String(v));
  ' "$file" "$key" "$default"
}

# Enabled backends of a config, in the fixed order of BACKENDS, space separated.
enabled_backends() {
  local file=$1 b out=()
  for b in "${BACKENDS[@]}"; do
    [[ $(config_get "$file" "backends.$b.enabled" false) == true ]] && out+=("$b")
  done
  echo "${out[*]}"
}

# Applies node label arguments (key=value or key-) with kubectl when it is there and NODE_NAME is known;
# otherwise prints the command for the operator, because labels only steer scheduling and must not block.
label_node() {
  if [[ -z $NODE_NAME ]]; then
    log "NODE_NAME is not set: label the node yourself: kubectl label node <node> --overwrite $*"
    return 0
  fi
  local -a cmd
  read -r -a cmd <<<"$KUBECTL"
  if ! command -v "${cmd[0]}" >/dev/null 2>&1; then
    log "no kubectl in the installer: run: kubectl label node $NODE_NAME --overwrite $*"
    return 0
  fi
  if ! "${cmd[@]}" label node "$NODE_NAME" --overwrite "$@" >&2; then
    log "warning: labelling node $NODE_NAME failed (RBAC?); run: kubectl label node $NODE_NAME --overwrite $*"
  fi
}

# Label arguments that remove every label this installer may set.
all_label_removals() {
  local b out=("$LABEL_PREFIX/installed-" "$LABEL_PREFIX/backends-")
  for b in "${BACKENDS[@]}"; do out+=("$LABEL_PREFIX/$b-"); done
  echo "${out[*]}"
}
