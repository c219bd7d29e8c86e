#!/usr/bin/env bash
# Build a minimal Debian/Ubuntu root filesystem with debootstrap and `docker import` it, for networks where
# no container registry is reachable. The result is cached: the image carries a label with the hash of its
# recipe (this script, the suite, the mirror, the extra CA certificates) and is rebuilt only when that changes.
#
# Usage: build-base.sh [--suite trixie] [--mirror URL] [--tag NAME] [--ca-dir DIR] [--force]
# Prints the image tag on stdout.
set -euo pipefail

suite=${BASE_SUITE:-trixie}
mirror=${BASE_MIRROR:-http://deb.debian.org/debian}
tag=""
ca_dir=${EXTRA_CA_DIR:-/usr/local/share/ca-certificates}
force=0

while [ $# -gt 0 ]; do
  case "$1" in
    --suite) suite=$2; shift 2 ;;
    --mirror) mirror=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --ca-dir) ca_dir=$2; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "build-base: unknown option $1" >&2; exit 2 ;;
  esac
done
tag=${tag:-mlstack/base:$suite}

for tool in debootstrap docker tar sha256sum; do
  command -v "$tool" >/dev/null || { echo "build-base: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done

ca_files=()
if [ -d "$ca_dir" ]; then
  while IFS= read -r -d '' f; do ca_files+=("$f"); done < <(find "$ca_dir" -maxdepth 2 -name '*.crt' -print0 | sort -z)
fi
recipe=$( { cat "$0"; echo "$suite $mirror"; for f in "${ca_files[@]}"; do cat "$f"; done; } | sha256sum | cut -c1-16)

if [ "$force" = 0 ] && [ "$(docker image inspect -f '{{ index .Config.Labels "org.mlstack.recipe" }}' "$tag" 2>/dev/null)" = "$recipe" ]; then
  echo "build-base: $tag is up to date (recipe $recipe)" >&2
  echo "$tag"
  exit 0
fi

root=$(mktemp -d /var/tmp/mlstack-rootfs.XXXXXX)
cleanup() { rm -rf "$root"; }
trap cleanup EXIT

echo "build-base: debootstrap $suite from $mirror (about 30 s)" >&2
debootstrap --variant=minbase --include=ca-certificates "$suite" "$root" "$mirror" >&2

# Extra CA certificates (corporate proxies that intercept TLS): trusted inside everything built on top.
if [ "${#ca_files[@]}" -gt 0 ]; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp "${ca_files[@]}" "$root/usr/local/share/ca-certificates/"
  chroot "$root" update-ca-certificates >&2
fi
# Keep images small and apt quiet, as the official images do.
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
APT::Install-Recommends "false";
CONF
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log

tar -C "$root" --numeric-owner -c . | docker import \
  --change "LABEL org.mlstack.recipe=$recipe" \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  - "$tag" >&2
echo "build-base: built $tag (recipe $recipe)" >&2
echo "$tag"
