#!/usr/bin/env bash
# CI setup for the Swarm e2e: a running Docker Engine and the Debian base image the stand-ins build FROM.
# Called by .ci/run after docker.io and debootstrap are installed. Idempotent; prints one line per step.
set -euo pipefail
cd "$(dirname "$0")/../.."

if docker info >/dev/null 2>&1; then
  echo "docker engine: running ($(docker version --format '{{.Server.Version}}'))"
else
  command -v dockerd >/dev/null || { echo "dockerd is not installed: apt-get install -y docker.io" >&2; exit 1; }
  echo "docker engine: not answering; starting dockerd in the background (log: /tmp/activity-dockerd.log)"
  # setsid: the engine outlives this script; CI ends it with the rest of the run.
  setsid dockerd >/tmp/activity-dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { echo "dockerd did not answer within 60 s; its last lines:" >&2; tail -20 /tmp/activity-dockerd.log >&2; exit 1; }
  echo "docker engine: running ($(docker version --format '{{.Server.Version}}'))"
fi

bash test/e2e/base-image.sh
