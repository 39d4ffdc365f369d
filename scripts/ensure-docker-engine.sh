#!/usr/bin/env bash
# Make sure a Docker engine answers.
#
#   scripts/ensure-docker-engine.sh
#
# - If `docker info` already works (DOCKER_HOST, the current context or the default socket),
#   nothing is changed.
# - Otherwise, as root: install Debian's docker.io if dockerd is missing and start a persistent
#   private dockerd in the background, listening on unix:///var/run/docker.sock, with
#     --data-root /var/lib/service-infra-docker  --exec-root /run/service-infra-docker
#     --storage-driver vfs  --iptables=false --ip6tables=false
#   (the default docker0 bridge; no iptables rules, published ports use the userland proxy).
#   It waits until the engine answers and prints where the log is.
# - Not root and no engine: exits non-zero with what to do.
#
# Environment: DOCKERD_START_TIMEOUT (seconds, default 60).
set -euo pipefail

SOCKET=/var/run/docker.sock
DATA_ROOT=/var/lib/service-infra-docker
EXEC_ROOT=/run/service-infra-docker
PIDFILE=/run/service-infra-dockerd.pid
LOG=/var/log/service-infra-dockerd.log
TIMEOUT=${DOCKERD_START_TIMEOUT:-60}

log() { printf '[ensure-docker-engine] %s\n' "$*" >&2; }
die() { printf '[ensure-docker-engine] ERROR: %s\n' "$*" >&2; exit 1; }

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  log "a Docker engine already answers at ${DOCKER_HOST:-the current context / default socket}; nothing to do"
  exit 0
fi

if [[ -n "${DOCKER_HOST:-}" && "${DOCKER_HOST}" != "unix://$SOCKET" ]]; then
  die "DOCKER_HOST=$DOCKER_HOST does not answer. Start that engine, or unset DOCKER_HOST to use (or let this script start) a local engine on unix://$SOCKET."
fi

# Everything below starts a dockerd from Debian packages: Linux only.
[[ $(uname -s) == Linux ]] || die "no Docker engine answers (docker info failed). Start Docker Desktop (or colima, OrbStack, ...) or point DOCKER_HOST at a running engine."

if [[ $(id -u) -ne 0 ]]; then
  die "no Docker engine answers (docker info failed) and this script is not running as root, so it cannot start one.
  Either start your Docker engine (Docker Desktop, colima, 'sudo systemctl start docker', ...) and make
  sure your user may use its socket (e.g. membership of the 'docker' group), or point DOCKER_HOST at a
  running engine, or run this script as root ('sudo $0') to start a private dockerd on unix://$SOCKET."
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "dockerd not found; installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends docker.io >&2 \
    || { apt-get update >&2 && apt-get install -y --no-install-recommends docker.io >&2; } \
    || die "could not install docker.io with apt-get"
fi
command -v docker >/dev/null 2>&1 || die "docker CLI not found even after installing docker.io"

answers() { docker -H "unix://$SOCKET" info >/dev/null 2>&1; }

running_pid=""
if [[ -s "$PIDFILE" ]]; then
  pid=$(cat "$PIDFILE")
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && grep -qa dockerd "/proc/$pid/cmdline" 2>/dev/null; then
    running_pid=$pid
  fi
fi

if [[ -n "$running_pid" ]]; then
  log "the private dockerd (pid $running_pid) is already running; waiting for it to answer"
else
  mkdir -p "$DATA_ROOT" "$EXEC_ROOT" "$(dirname "$LOG")"
  log "starting a private dockerd on unix://$SOCKET (log: $LOG)"
  # setsid + nohup: the daemon outlives this shell and its session.
  setsid nohup dockerd \
    --host="unix://$SOCKET" \
    --data-root="$DATA_ROOT" \
    --exec-root="$EXEC_ROOT" \
    --pidfile="$PIDFILE" \
    --storage-driver=vfs \
    --iptables=false \
    --ip6tables=false \
    </dev/null >>"$LOG" 2>&1 &
  running_pid=$!
fi

for ((i = 0; i < TIMEOUT; i++)); do
  if answers; then
    log "Docker engine answers on unix://$SOCKET (dockerd pid $(cat "$PIDFILE" 2>/dev/null || echo "$running_pid"))"
    echo "dockerd log: $LOG"
    exit 0
  fi
  if ! kill -0 "$running_pid" 2>/dev/null; then
    tail -n 30 "$LOG" >&2 || true
    die "dockerd exited during start-up; log: $LOG"
  fi
  sleep 1
done
tail -n 30 "$LOG" >&2 || true
die "dockerd did not answer within ${TIMEOUT}s; log: $LOG"
