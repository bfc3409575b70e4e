#!/usr/bin/env bash
# Runs Debian's docker-registry (a real OCI distribution registry) on 127.0.0.1 for tests, which push their
# images there with scripts/test-images.sh. The daemon maps registry hosts to it, so nothing leaves the machine.
#
#   scripts/test-registry.sh start|stop|status
#
# Env: CRIMUX_TEST_REGISTRY_PORT (default 5000), CRIMUX_TEST_DIR (default /var/lib/crimux-test).
set -euo pipefail

PORT=${CRIMUX_TEST_REGISTRY_PORT:-5000}
DIR=${CRIMUX_TEST_DIR:-/var/lib/crimux-test}
STORAGE=$DIR/registry
CONFIG=$DIR/registry-$PORT.yml
PIDFILE=$DIR/registry-$PORT.pid
LOGFILE=$DIR/registry-$PORT.log
URL=http://127.0.0.1:$PORT/v2/
START_TIMEOUT_S=15

die() { echo "test-registry: $*" >&2; exit 1; }

[[ $PORT =~ ^[0-9]+$ ]] || die "CRIMUX_TEST_REGISTRY_PORT must be a port number, got '$PORT'"
command -v docker-registry >/dev/null || die "docker-registry is not installed (run scripts/host-packages.sh)"

is_ours() { [[ $1 =~ ^[0-9]+$ ]] && [[ $(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") == "docker-registry serve $CONFIG " ]]; }

# The pid of our registry: the pid file's if that process still runs our command line (a stale file may name a
# reused pid), else the one process running exactly our command line (its pid file was lost).
registry_pid() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || true
  if is_ours "$pid"; then echo "$pid"; return 0; fi
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    if is_ours "$pid"; then echo "$pid"; return 0; fi
  done
  return 1
}

answers() { curl -fsS -o /dev/null --max-time 2 "$URL" 2>/dev/null; }

write_config() {
  mkdir -p "$STORAGE"
  cat >"$CONFIG" <<YAML
# Written by scripts/test-registry.sh; edits are overwritten on the next start.
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $STORAGE
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$PORT
  # A fixed secret keeps the registry from warning; it only signs upload state of this local test registry.
  secret: crimux-test-registry
YAML
}

# Runs in a background subshell: closes every inherited descriptor above stderr (our lock, a caller's lock or
# pipe: a long-lived registry holding one would block or hang whoever waits on it), then becomes the registry.
# setsid detaches it from the caller's session and terminal, so it outlives the test run that started it.
launch() {
  local fd
  for fd in $(ls /proc/$BASHPID/fd); do
    if ((fd > 2)); then eval "exec $fd>&-"; fi
  done
  exec setsid docker-registry serve "$CONFIG" </dev/null >>"$LOGFILE" 2>&1
}

start() {
  if answers; then
    # Ours, or another registry someone already runs on that port: either way tests have a registry.
    return 0
  fi
  mkdir -p "$DIR"
  # Serialise concurrent starts (test files run in parallel processes) so only one registry is spawned.
  exec 9>"$DIR/registry-$PORT.lock"
  flock -w 30 9 || die "timed out waiting for $DIR/registry-$PORT.lock"
  answers && return 0
  if pid=$(registry_pid); then
    kill "$pid" 2>/dev/null || true # alive but not answering: restart it
  fi
  write_config
  launch &
  echo $! >"$PIDFILE"
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until answers; do
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      tail -n 20 "$LOGFILE" >&2
      die "registry exited during start (log: $LOGFILE)"
    fi
    ((SECONDS < deadline)) || { tail -n 20 "$LOGFILE" >&2; die "registry did not answer $URL within ${START_TIMEOUT_S}s"; }
    sleep 0.1
  done
}

stop() {
  local pid
  if pid=$(registry_pid); then
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    # Only our own pid file: a concurrent start may already have written a new one.
    [[ $(cat "$PIDFILE" 2>/dev/null) != "$pid" ]] || rm -f "$PIDFILE"
  fi
}

status() {
  if answers; then
    local pid
    pid=$(registry_pid) || pid="not ours"
    echo "running on 127.0.0.1:$PORT (pid $pid, storage $STORAGE)"
  else
    echo "not running on 127.0.0.1:$PORT"
    return 1
  fi
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: $0 start|stop|status" ;;
esac
