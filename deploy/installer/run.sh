#!/usr/bin/env bash
# Entry point of the installer DaemonSet's container: install, then stay up (the pod is Ready while the socket
# exists) and re-run the installer whenever the mounted ConfigMap changes, so `kubectl apply` of a new config
# reaches the node without a pod restart. Uninstalling is the preStop hook's job (uninstall.sh), not this one's.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONFIG_SRC=${CONFIG_SRC:-/etc/crimux-config}
INTERVAL=${CONFIG_POLL_SECONDS:-30}

# Kubernetes swaps a ConfigMap volume's content atomically (the ..data symlink), so a checksum of the files
# tells a real change from a re-sync.
config_sum() { cat "$CONFIG_SRC"/* 2>/dev/null | cksum; }

"$HERE/install.sh"
last=$(config_sum)
trap 'exit 0' TERM INT
while true; do
  sleep "$INTERVAL" &
  wait $!
  now=$(config_sum)
  [[ $now == "$last" ]] && continue
  echo "crimux-installer: $CONFIG_SRC changed; installing again" >&2
  # A rejected config leaves the running daemon and its files as they were (install.sh checks first).
  if "$HERE/install.sh"; then last=$now; fi
done
