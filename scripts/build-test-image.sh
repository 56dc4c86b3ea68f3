#!/usr/bin/env bash
# Builds the Debian 12 base image of the test hosts with debootstrap (no image registry is needed)
# and imports it into podman as localhost/soc2kit-debian12:latest. Skips the build when the image
# exists, unless FORCE=1.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE="${TEST_IMAGE:-localhost/soc2kit-debian12:latest}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
export CONTAINERS_CONF="$PWD/molecule/containers.conf"
die() { echo "build-test-image: ERROR: $*" >&2; exit 1; }
for tool in podman debootstrap; do
  command -v "$tool" >/dev/null || die "$tool not found; run 'make setup' (Debian package $tool)"
done
[ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
if [ "${FORCE:-0}" != 1 ] && podman image exists "$IMAGE"; then
  echo "build-test-image: $IMAGE already present (FORCE=1 rebuilds)"; exit 0
fi
rootfs="$(mktemp -d /var/tmp/soc2kit-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
echo "build-test-image: debootstrap bookworm (about a minute)"
# Base packages, then the packages the roles install, so that each scenario's converge does not
# download them again in every container (the roles still declare them; this only warms the cache).
BASE_PACKAGES=python3,python3-apt,systemd,systemd-sysv,dbus,sudo,iproute2,ca-certificates,procps
WEB_TIER_PACKAGES=nginx,apache2,libapache2-mod-security2,certbot,python3-certbot-dns-route53,pebble,python3-cryptography,python3-cffi-backend,curl,openssl
# (debootstrap does not resolve virtual packages: python3-cffi-backend provides one cryptography needs.)
debootstrap --variant=minbase --include="$BASE_PACKAGES,$WEB_TIER_PACKAGES" \
  bookworm "$rootfs" "$MIRROR" >/dev/null \
  || { tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2 || true; die "debootstrap failed (log above)"; }
# Masks units that cannot work in a container and would only slow boot.
for unit in systemd-remount-fs.service getty.target console-getty.service systemd-udevd.service \
            systemd-udev-trigger.service sys-kernel-debug.mount sys-kernel-tracing.mount; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
# Pre-installed web servers stay disabled: the roles enable the one a host is meant to run.
rm -f "$rootfs"/etc/systemd/system/multi-user.target.wants/{nginx,apache2,apache-htcacheclean}.service
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | podman import --change 'CMD ["/sbin/init"]' - "$IMAGE" >/dev/null
echo "build-test-image: built $IMAGE"
