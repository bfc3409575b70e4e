#!/usr/bin/env bash
# Starts Debian's dockerd for crimux's docker backend when nothing answers on its socket yet (systemd is not PID 1
# on these machines, so no unit starts it). The flags are the ones that work here: no iptables rules, no docker0
# bridge — crimux gives docker pods their network through CNI. Idempotent; waits at most 30 s.
set -euo pipefail
SOCK=${DOCKER_SOCKET:-/var/run/docker.sock}
LOG=${DOCKERD_LOG:-/var/log/crimux-dockerd.log}

answers() { curl -fsS --max-time 2 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; }

answers && exit 0
command -v dockerd >/dev/null || { echo "start-dockerd: dockerd is not installed (apt-get install docker.io)" >&2; exit 1; }
setsid dockerd --iptables=false --bridge=none -H "unix://$SOCK" >>"$LOG" 2>&1 < /dev/null &
for _ in $(seq 1 60); do
  answers && exit 0
  sleep 0.5
done
echo "start-dockerd: dockerd did not answer on $SOCK within 30 s; see $LOG" >&2
exit 1
