#!/usr/bin/env bash
# Installs everything `make test` and `make deploy ENV=local` need on a fresh Debian/Ubuntu
# machine: Debian packages (only the missing ones) and the pinned virtual environment at .venv.
# Re-running it is cheap: it installs nothing that is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, by purpose. Hosts get their packages from the roles, not from here.
APT_PACKAGES=(
  python3-venv python3-dev build-essential libffi-dev   # the virtual environment and wheels that compile
  postgresql                                            # real PostgreSQL for the app's tests
  podman runc debootstrap uidmap slirp4netns            # local test containers (molecule, ENV=local)
  openssl curl jq                                       # certificates and HTTP checks in tests
  testssl.sh nodejs                                     # make verify: TLS findings, MDN HTTP Observatory (node)
)

die() { echo "bootstrap: ERROR: $*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "root is needed to install Debian packages ($*); run as root or install sudo"
  fi
}

command -v apt-get >/dev/null || die "apt-get not found: this kit's set-up supports Debian 12 / Ubuntu 22.04+ only"

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else 1)' \
  || die "$PYTHON is $("$PYTHON" --version 2>&1); Python 3.11 or newer is required (ansible-core 2.19, Django 5.2)"

# The venv is rebuilt only when the lock file or pyproject.toml changes (their hash is stamped inside the venv).
want="$(cat requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
stamp=.venv/.requirements-dev.sha256
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing pinned Python packages into .venv (requirements-dev.txt)"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  # The tooling (scripts/kit, pyproject.toml), editable: its commands (soc2kit, soc2kit-verify, ...) run this
  # checkout's code. Its dependencies are the pins above; the build uses the pinned setuptools, offline.
  echo "bootstrap: installing the kit's tooling into .venv (pyproject.toml, editable)"
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
fi
echo "bootstrap: ready (.venv, Debian packages)"
