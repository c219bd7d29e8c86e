#!/usr/bin/env bash
# Install the Docker Compose v2 CLI plugin on a Debian host whose release lacks it (bookworm ships only
# Compose v1). Takes Debian trixie's docker-compose package straight from the Debian mirror (a static Go
# binary that needs libc6 >= 2.34) and installs it with dpkg. Does nothing when `docker compose` works.
set -euo pipefail

mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${COMPOSE_SUITE:-trixie}
arch=$(dpkg --print-architecture)

if docker compose version 2>/dev/null | grep -q "Docker Compose version"; then
  exit 0
fi
if apt-cache show docker-compose 2>/dev/null | grep -q '^Version: 2\.'; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-compose
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL "$mirror/dists/$suite/main/binary-$arch/Packages.xz" -o "$work/Packages.xz"
path=$(xz -dc "$work/Packages.xz" | awk '/^Package: docker-compose$/{f=1} f && !done && /^Filename:/{print $2; done=1}')
if [ -z "$path" ]; then
  echo "install-compose-plugin: docker-compose not found in $suite" >&2
  exit 1
fi
curl -fsSL "$mirror/$path" -o "$work/docker-compose.deb"
dpkg -i "$work/docker-compose.deb"
docker compose version
