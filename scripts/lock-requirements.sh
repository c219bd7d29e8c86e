#!/usr/bin/env bash
# Lock app/requirements-{web,worker}.in and roles/ml_dev/files/requirements.in into the .txt beside each,
# with every package pinned and the sha256 of each of its files on PyPI (`pip-compile --generate-hashes`):
# the app's images and devserver's venv install them with `pip install --require-hashes`. Resolved inside
# the app's base image (Debian 13's Python, as on the machines), so the lock fits them. Run after changing
# a .in file, then rebuild the images.
#
# Usage: scripts/lock-requirements.sh [--base IMAGE] [--upgrade]
#   --base IMAGE   the image to resolve in (default: mlstack/python:trixie, scripts/build-python-base.sh)
#   --upgrade      newest versions allowed by the .in files, instead of keeping the locked ones
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
base=mlstack/python:trixie
upgrade=""
while [ $# -gt 0 ]; do
  case "$1" in
    --base) base=$2; shift 2 ;;
    --upgrade) upgrade=--upgrade; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "lock-requirements: unknown option $1" >&2; exit 2 ;;
  esac
done
index=${PIP_INDEX_URL:-https://pypi.org/simple}

docker run --rm --user "$(id -u):$(id -g)" -e HOME=/tmp -e PIP_INDEX_URL="$index" \
  -e PIP_DISABLE_PIP_VERSION_CHECK=1 -v "$repo:/repo" -w /repo "$base" sh -euc "
    python3 -m venv /tmp/venv
    /tmp/venv/bin/pip install --quiet pip-tools
    for input in app/requirements-web.in app/requirements-worker.in roles/ml_dev/files/requirements.in; do
      cd /repo/\$(dirname \$input)
      name=\$(basename \$input .in)
      /tmp/venv/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
        $upgrade --output-file \$name.txt \$name.in
      echo lock-requirements: \$(dirname \$input)/\$name.txt written >&2
    done"
