#!/usr/bin/env bash
# Build mlstack/python:trixie (python3 + python3-venv + ca-certificates) FROM mlstack/base:trixie: the app
# images' BASE_IMAGE where no registry is reachable. Builds mlstack/base:trixie first when it is missing
# (machine-image/build-base.sh). Cached: the image carries the hash of its recipe (this script and the
# base image's id) and is rebuilt only when that changes.
#
# Usage: build-python-base.sh [--base IMAGE] [--tag NAME] [--force]
# Prints the image tag on stdout.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
base=${PYTHON_BASE_FROM:-mlstack/base:trixie}
tag=${PYTHON_BASE_TAG:-mlstack/python:trixie}
force=0

while [ $# -gt 0 ]; do
  case "$1" in
    --base) base=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "build-python-base: unknown option $1" >&2; exit 2 ;;
  esac
done

if ! docker image inspect "$base" >/dev/null 2>&1; then
  if [ "$base" = mlstack/base:trixie ]; then
    echo "build-python-base: $base is missing; building it with machine-image/build-base.sh" >&2
    "$repo/machine-image/build-base.sh" >&2
  else
    echo "build-python-base: base image $base is missing" >&2
    exit 1
  fi
fi

base_id=$(docker image inspect -f '{{ .Id }}' "$base")
recipe=$( { cat "$0"; echo "$base_id"; } | sha256sum | cut -c1-16)

if [ "$force" = 0 ] && [ "$(docker image inspect -f '{{ index .Config.Labels "org.mlstack.recipe" }}' "$tag" 2>/dev/null)" = "$recipe" ]; then
  echo "build-python-base: $tag is up to date (recipe $recipe)" >&2
  echo "$tag"
  exit 0
fi

echo "build-python-base: building $tag from $base (recipe $recipe)" >&2
DOCKER_BUILDKIT=0 docker build --quiet --tag "$tag" --label "org.mlstack.recipe=$recipe" - >&2 <<DOCKERFILE
FROM $base
RUN apt-get update \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
       python3 python3-venv ca-certificates \\
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/* \\
       /usr/share/locale/* /var/log/apt /var/log/dpkg.log \\
    && python3 -m venv --help >/dev/null
ENV LANG=C.UTF-8
CMD ["python3"]
DOCKERFILE
echo "build-python-base: built $tag" >&2
echo "$tag"
