#!/usr/bin/env bash
# Start Docker Engine in the background when it is not answering (CI machines and containers have no
# systemd as PID 1), then wait until it answers. Idempotent: does nothing when the engine is up.
set -euo pipefail

timeout_s=${DOCKER_START_TIMEOUT:-60}
log=${DOCKERD_LOG:-/var/log/dockerd.log}

if docker info >/dev/null 2>&1; then
  exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "ensure-docker: dockerd is not installed (apt-get install docker.io)" >&2
  exit 1
fi
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl start docker
else
  echo "ensure-docker: starting dockerd in the background (log: $log)" >&2
  nohup dockerd >"$log" 2>&1 &
  echo $! >/run/ensure-docker.dockerd.pid
fi
for _ in $(seq "$timeout_s"); do
  if docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 1
done
echo "ensure-docker: Docker Engine did not answer within ${timeout_s}s; see $log" >&2
exit 1
