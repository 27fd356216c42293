#!/usr/bin/env bash
# Install what the stack tier needs, each step skipped when already done (reruns are cheap):
#   1. podman, runc, debootstrap and what podman's network stack needs (netavark calls
#      iptables; without it the first build fails with `netavark: No such file or
#      directory`) from Debian's archive (needs root and apt-get);
#   2. the base image localhost/genesis-base:bookworm (scripts/stack-base-image.sh).
# The images themselves are built by the tier (tests/stack/podman.py; podman caches the
# layers, so a rerun rebuilds only what changed).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for bin in podman runc debootstrap iptables; do
  command -v "$bin" >/dev/null 2>&1 || need+=("$bin")
done
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "the stack tier needs ${need[*]} (Debian packages podman runc debootstrap iptables); install them as root" >&2
    exit 1
  fi
  echo "installing podman, runc, debootstrap, iptables (Debian packages)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    podman runc debootstrap iptables uidmap netavark aardvark-dns fuse-overlayfs slirp4netns \
    >/dev/null
fi
bash scripts/stack-base-image.sh
