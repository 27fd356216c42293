#!/usr/bin/env bash
# Build the base image the stack tier uses where no container registry is reachable:
# Debian bookworm from Debian's package archive (debootstrap), with Python 3.11 and pip
# on PATH in a virtual environment at /opt/python, so it stands in for
# python:3.11-slim-bookworm (and debian:bookworm-slim) in every Dockerfile's FROM.
#
#   bash scripts/stack-base-image.sh [NAME]       # default localhost/genesis-base:bookworm
#
# Cached: does nothing when the image exists (podman image rm NAME to rebuild).
set -euo pipefail
NAME="${1:-localhost/genesis-base:bookworm}"
MIRROR="${GENESIS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
if podman image exists "$NAME"; then
  echo "base image $NAME exists"
  exit 0
fi
DIR="$(mktemp -d /var/tmp/genesis-base.XXXXXX)"
trap 'rm -rf "$DIR"' EXIT
echo "debootstrap bookworm (minbase + python3) into $DIR"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$DIR" "$MIRROR" >"$DIR.log" 2>&1 || { tail -20 "$DIR.log"; exit 1; }
rm -f "$DIR.log"
chroot "$DIR" python3 -m venv /opt/python
chroot "$DIR" apt-get clean
rm -rf "$DIR"/var/lib/apt/lists/* "$DIR"/var/cache/apt/*.bin
tar -C "$DIR" -c . | podman import \
  --change 'ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  - "$NAME" >/dev/null
echo "built $NAME ($(podman image inspect "$NAME" --format '{{.Size}}') bytes)"
