#!/usr/bin/env bash
# Builds the Debian 12 base image of the test hosts with debootstrap (no image registry is needed)
# and imports it into podman as localhost/soc2kit-debian12:latest. Skips the build when the image
# exists and was built by this version of the script (its hash is the image's label), unless FORCE=1.
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
BUILDER_HASH="$(sha256sum "$0" | cut -c1-16)"
if [ "${FORCE:-0}" != 1 ] && podman image exists "$IMAGE"; then
  built_by="$(podman image inspect --format '{{ index .Labels "soc2kit.builder" }}' "$IMAGE" 2>/dev/null || true)"
  if [ "$built_by" = "$BUILDER_HASH" ]; then
    echo "build-test-image: $IMAGE already present (FORCE=1 rebuilds)"; exit 0
  fi
  echo "build-test-image: $IMAGE was built by another version of this script; rebuilding"
fi
rootfs="$(mktemp -d /var/tmp/soc2kit-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
echo "build-test-image: debootstrap bookworm (about a minute)"
# Base packages, then the packages the roles install, so that each scenario's converge does not
# download them again in every container (the roles still declare them; this only warms the cache).
BASE_PACKAGES=python3,python3-apt,systemd,systemd-sysv,dbus,sudo,iproute2,ca-certificates,procps
WEB_TIER_PACKAGES=nginx,apache2,libapache2-mod-security2,certbot,python3-certbot-dns-route53,pebble,python3-cryptography,python3-cffi-backend,curl,openssl
# (debootstrap does not resolve virtual packages: python3-cffi-backend provides one cryptography needs.)
# Packages of the hardening, django_app, log_shipping and postgresql roles whose installation costs the most
# in every converge and has no service that could start before its role configures it: aide-common alone
# spends about 43 s in ucf per host, rkhunter 13 s. Services (auditd, sshd, acct, sysstat, nftables) and
# needrestart (an apt hook that would act on the roles' own installs) stay out: the roles install them. So
# do packages a role installs with their Recommends (rsyslog's logrotate): debootstrap installs none, and
# the image would lack what a fresh host gets. These roles install the ones here without Recommends too.
ROLE_PACKAGES=aide,aide-common,debsums,rkhunter,lynis,libpam-pwquality,cracklib-runtime,libpam-tmpdir,python3-venv,python3-pip,postgresql-client-15
debootstrap --variant=minbase --include="$BASE_PACKAGES,$WEB_TIER_PACKAGES,$ROLE_PACKAGES" \
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
tar -C "$rootfs" -c . \
  | podman import --change 'CMD ["/sbin/init"]' --change "LABEL soc2kit.builder=$BUILDER_HASH" - "$IMAGE" >/dev/null
echo "build-test-image: built $IMAGE"
