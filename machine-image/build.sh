#!/usr/bin/env bash
# Build the local machines' image (systemd, sshd, cloud-init, sudo, python3) from machine-image/Dockerfile.
#
# By default the image is built FROM the debootstrap base (build-base.sh: mlstack/base:<suite>, made from
# Debian's mirror, no registry needed). --base-image (or MLSTACK_BASE_IMAGE) builds FROM a registry image
# instead, e.g. debian:trixie or ubuntu:24.04. The result carries a label with the hash of its recipe
# (Dockerfile, files/, this script, the base image's ID, the host's extra CA certificates) and is rebuilt only
# when that changes.
#
# Usage: build.sh [--base-image IMAGE | --suite trixie --mirror URL] [--tag NAME] [--ca-dir DIR]
#                 [--force] [--verbose]
#   --force rebuilds the machine image without Docker's layer cache (the debootstrap base stays cached).
#   Ubuntu 24.04 with a registry:    build.sh --base-image ubuntu:24.04
#   Ubuntu 24.04 without a registry: build.sh --suite noble --mirror http://archive.ubuntu.com/ubuntu
#     (needs debootstrap's noble script, debootstrap >= 1.0.134, and the ubuntu-keyring package)
# Prints the image tag on stdout; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
base_image=${MLSTACK_BASE_IMAGE:-}
suite=${BASE_SUITE:-trixie}
mirror=${BASE_MIRROR:-}
tag=${MLSTACK_MACHINE_IMAGE:-}
ca_dir=${EXTRA_CA_DIR:-/usr/local/share/ca-certificates}
force=0
quiet=(--quiet)

while [ $# -gt 0 ]; do
  case "$1" in
    --base-image) base_image=$2; shift 2 ;;
    --suite) suite=$2; shift 2 ;;
    --mirror) mirror=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --ca-dir) ca_dir=$2; shift 2 ;;
    --force) force=1; shift ;;
    --verbose) quiet=(); shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "build: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

command -v docker >/dev/null || { echo "build: docker is missing (apt-get install docker.io)" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "build: Docker Engine is not answering (run scripts/ensure-docker.sh)" >&2; exit 1; }

if [ -z "$base_image" ]; then
  if [ ! -e "/usr/share/debootstrap/scripts/$suite" ]; then
    echo "build: this debootstrap does not know the suite '$suite'; upgrade debootstrap, or use" \
      "--base-image (e.g. ubuntu:24.04) where a registry is reachable" >&2
    exit 1
  fi
  base_args=(--suite "$suite" --ca-dir "$ca_dir")
  if [ -n "$mirror" ]; then base_args+=(--mirror "$mirror"); fi
  base_image=$("$here/build-base.sh" "${base_args[@]}")
  tag=${tag:-mlstack/machine:$suite}
else
  # A registry image: pull it once so its ID (part of the recipe) is known.
  if ! docker image inspect "$base_image" >/dev/null 2>&1; then
    echo "build: pulling $base_image" >&2
    docker pull "$base_image" >&2
  fi
  flavour=${base_image##*/}
  tag=${tag:-mlstack/machine:${flavour//:/-}}
fi
base_id=$(docker image inspect -f '{{.Id}}' "$base_image")

ca_files=()
if [ -d "$ca_dir" ]; then
  while IFS= read -r -d '' f; do ca_files+=("$f"); done < <(find "$ca_dir" -maxdepth 2 -name '*.crt' -print0 | sort -z)
fi
recipe=$( {
  cat "$0" "$here/Dockerfile"
  find "$here/files" -type f -print0 | sort -z | xargs -0 cat
  echo "$base_image $base_id"
  if [ "${#ca_files[@]}" -gt 0 ]; then cat "${ca_files[@]}"; fi
} | sha256sum | cut -c1-16)

if [ "$force" = 0 ] && [ "$(docker image inspect -f '{{ index .Config.Labels "org.mlstack.machine-recipe" }}' "$tag" 2>/dev/null)" = "$recipe" ]; then
  echo "build: $tag is up to date (recipe $recipe)" >&2
  echo "$tag"
  exit 0
fi

context=$(mktemp -d /var/tmp/mlstack-machine.XXXXXX)
cleanup() { rm -rf "$context"; }
trap cleanup EXIT
cp -r "$here/Dockerfile" "$here/files" "$context/"
mkdir -p "$context/certs"
if [ "${#ca_files[@]}" -gt 0 ]; then cp "${ca_files[@]}" "$context/certs/"; fi

build_args=(--build-arg "BASE_IMAGE=$base_image" --label "org.mlstack.machine-recipe=$recipe" -t "$tag")
if [ "$force" = 1 ]; then build_args+=(--no-cache); fi
old_id=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)

echo "build: building $tag FROM $base_image (recipe $recipe, about a minute)" >&2
docker build "${quiet[@]}" "${build_args[@]}" "$context" >&2
# The image this replaced is now untagged: remove it unless a machine still runs on it.
if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$tag")" ] \
  && [ "$(docker image inspect -f '{{len .RepoTags}}' "$old_id" 2>/dev/null)" = 0 ]; then
  docker image rm "$old_id" >/dev/null 2>&1 || true
fi
echo "build: built $tag" >&2
echo "$tag"
