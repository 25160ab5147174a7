#!/usr/bin/env bash
# The Debian base image every e2e stand-in is built FROM: made by debootstrap from Debian's mirror when absent, since no image can be pulled here.
# Idempotent: an existing debian:bookworm-slim is left alone. Usage: bash test/e2e/base-image.sh
set -euo pipefail

image=${ACTIVITY_BASE_IMAGE:-debian:bookworm-slim}   # overridable only to try this script without touching the real base
suite=bookworm

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "base image $image: present"
  exit 0
fi

command -v debootstrap >/dev/null || { echo "debootstrap is not installed: apt-get install -y debootstrap (or run .ci/run)" >&2; exit 1; }

# The mirror this machine's apt uses (deb822 sources first, then the one-line format).
mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 !~ /^\[/ { print $2; exit }' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

rootfs=$(mktemp -d /tmp/activity-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

echo "base image $image: absent; debootstrap --variant=minbase $suite from $mirror (a few minutes)"
started=$SECONDS
# debootstrap prints one line per step (I: Retrieving ..., I: Installing ...): that is the progress.
debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" 2>&1 | grep --line-buffered -E '^(I|W|E):' | sed -u 's/^/  debootstrap /'
[ -x "$rootfs/bin/sh" ] || { echo "debootstrap did not produce a root file system in $rootfs" >&2; exit 1; }

echo "deb $mirror $suite main" > "$rootfs/etc/apt/sources.list"
# Like Docker's official Debian images: packages installed in a build never start their daemons, and apt keeps no caches.
printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
chmod 755 "$rootfs/usr/sbin/policy-rc.d"
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' > "$rootfs/etc/apt/apt.conf.d/90activity-no-recommends"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*

echo "base image $image: importing into Docker"
tar -C "$rootfs" --numeric-owner -c . | docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' - "$image" >/dev/null
echo "base image $image: built in $((SECONDS - started)) s ($(docker image inspect --format '{{.Size}}' "$image" | awk '{ printf "%d MB", $1 / 1000000 }'))"
