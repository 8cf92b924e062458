#!/usr/bin/env bash
# Make the Debian base image the rds images build FROM, for podman on a machine
# that cannot pull from a registry: `debootstrap --variant=minbase bookworm`
# imported as localhost/debian:bookworm (and tagged as the names the
# Dockerfiles use). The root file system is cached as a tarball under
# RDS_IMAGE_CACHE (default /var/cache/rds), so only the first run pays for
# debootstrap (a few minutes); later runs import the tarball in seconds.
set -euo pipefail
cache=${RDS_IMAGE_CACHE:-/var/cache/rds}
tarball=$cache/debian-bookworm-minbase.tar
mirror=${RDS_DEBIAN_MIRROR:-$(grep -hoE '^URIs: *http[^ ]*/debian$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')}
mirror=${mirror:-http://deb.debian.org/debian}
podman=(podman)

if "${podman[@]}" image exists localhost/debian:bookworm; then
  :
else
  if [ ! -s "$tarball" ]; then
    echo "debootstrap bookworm from $mirror (cached in $tarball afterwards)"
    root=$(mktemp -d /var/tmp/rds-debootstrap.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    mkdir -p "$cache"
    tar -C "$root" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
  fi
  "${podman[@]}" import -q "$tarball" localhost/debian:bookworm >/dev/null
fi
for name in docker.io/library/debian:bookworm docker.io/library/debian:bookworm-slim; do
  "${podman[@]}" tag localhost/debian:bookworm "$name"
done
echo "base image localhost/debian:bookworm ready"
