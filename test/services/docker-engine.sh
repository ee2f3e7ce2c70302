#!/usr/bin/env bash
# A private Docker engine for the tests: its own socket, data root and exec root in one temp
# dir, so it never meets another engine on the machine (a system one, or another run's).
# No default bridge and no iptables rules: our containers use host networking on loopback.
#
#   eval "$(bash test/services/docker-engine.sh start [OWNER_PID])"   # exports DOCKER_HOST, IM_DOCKER_ENGINE_DIR
#   bash test/services/docker-engine.sh stop "$IM_DOCKER_ENGINE_DIR"
#
# OWNER_PID, if given, is the process that will stop the engine: a later start stops the
# engines whose owner is gone (a CI run killed before its trap ran). Without it the engine
# is left to whoever started it.
#
# start installs Debian's docker.io, docker-compose and debootstrap when missing and we are
# root; it fails, saying why, when the engine does not answer (never a silent fallback).
set -euo pipefail

die() {
  echo "docker-engine.sh: $*" >&2
  exit 1
}

start() {
  # What the container tests need: the engine, compose (v1, Debian's) and debootstrap (the
  # local base images, docker/local-base.sh). Installed from Debian when missing and root.
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  if ((${#missing[@]} > 0)); then
    if [[ $(id -u) -ne 0 ]]; then
      die "missing ${missing[*]}; install them (apt-get install ${missing[*]})"
    fi
    echo "docker-engine.sh: installing ${missing[*]} (Debian)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
      { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; } ||
      die "apt-get install ${missing[*]} failed"
  fi
  local owner=${1:-} stale
  for stale in "${TMPDIR:-/tmp}"/im-docker.*/owner.pid; do
    [[ -f $stale ]] || continue
    if ! kill -0 "$(cat "$stale")" 2>/dev/null; then
      echo "docker-engine.sh: stopping the engine of a run that is gone ($(dirname "$stale"))" >&2
      stop "$(dirname "$stale")"
    fi
  done
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/im-docker.XXXXXX")
  if [[ -n $owner ]]; then echo "$owner" >"$dir/owner.pid"; fi
  # Unix socket paths are limited to 108 bytes: keep them short.
  local sock=$dir/docker.sock
  setsid dockerd \
    --host "unix://$sock" \
    --data-root "$dir/data" \
    --exec-root "$dir/x" \
    --pidfile "$dir/dockerd.pid" \
    --bridge none --iptables=false --ip6tables=false \
    --storage-driver overlay2 \
    --log-level warn \
    </dev/null >"$dir/dockerd.log" 2>&1 &
  echo $! >"$dir/launcher.pid"
  # Waits for the condition (the engine answering), bounded only as a hang guard.
  local deadline=$((SECONDS + 120))
  until DOCKER_HOST=unix://$sock docker version >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$dir/launcher.pid")" 2>/dev/null; then
      echo "--- dockerd log ---" >&2
      tail -n 40 "$dir/dockerd.log" >&2
      rm -rf "$dir"
      die "dockerd exited before answering"
    fi
    if ((SECONDS > deadline)); then
      tail -n 40 "$dir/dockerd.log" >&2
      stop "$dir"
      die "dockerd did not answer within 120 s"
    fi
    sleep 0.2
  done
  echo "export DOCKER_HOST=unix://$sock IM_DOCKER_ENGINE_DIR=$dir"
}

stop() {
  local dir=${1:?engine dir}
  [[ -d $dir ]] || return 0
  local pid
  pid=$(cat "$dir/launcher.pid" 2>/dev/null || true)
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    # dockerd stops its containers and its containerd on SIGTERM.
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 60))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # The managed containerd and its shims are ours too (their sockets are under our exec root).
  local leftover
  for leftover in $(pgrep -f -- "$dir/" || true); do kill -KILL "$leftover" 2>/dev/null || true; done
  # overlay mounts under the data root must go before the dir can.
  { grep -F " $dir/" /proc/mounts || true; } | awk '{print $2}' | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$dir"
}

case ${1:-} in
start) start "${2:-}" ;;
stop) stop "${2:-${IM_DOCKER_ENGINE_DIR:-}}" ;;
*) die "usage: $0 start | stop DIR" ;;
esac
