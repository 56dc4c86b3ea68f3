"""The hosts' user_data: installs AWS's SSM agent at first boot, its signature verified first.

Debian's AMIs ship no amazon-ssm-agent and Debian's archive has none, so without this Ansible could
not reach an SSM-only host. The .deb comes from AWS's regional bucket (reached through the VPC's S3
gateway endpoint); the script refuses to install it unless its detached signature verifies against
AWS's published key, shipped here (files/amazon-ssm-agent.asc), and was made by that key's
fingerprint. gpgv is in every Debian image (apt needs it) and, unlike gpg, ignores the expiry date
in our copy of the key: AWS extends the expiry of the same key rather than replacing it.
"""

from __future__ import annotations

import base64
import shlex
from pathlib import Path

SIGNING_KEY_FILE = Path(__file__).resolve().parent / "files" / "amazon-ssm-agent.asc"
# "SSM Agent <ssm-agent-signer@amazon.com>", as published on
# https://docs.aws.amazon.com/systems-manager/latest/userguide/verify-agent-signature.html
SIGNING_KEY_FINGERPRINT = "DE92C7DA3E56E92331D62A36BC1F495C97DD04ED"
ARCHITECTURES = ("amd64", "arm64")


def dearmor(armored: str) -> bytes:
    """The binary keyring gpgv reads, from an ASCII-armored public key (RFC 4880, section 6)."""
    lines = armored.strip().splitlines()
    begin = lines.index("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    end = lines.index("-----END PGP PUBLIC KEY BLOCK-----")
    body = lines[begin + 1 : end]
    blank = body.index("")  # armor headers end at the first empty line
    data = [line for line in body[blank + 1 :] if not line.startswith("=")]
    return base64.b64decode("".join(data), validate=True)


def render_user_data(
    region: str,
    architecture: str,
    *,
    signing_key: str | None = None,
    fingerprint: str = SIGNING_KEY_FINGERPRINT,
) -> str:
    """The cloud-init shell script for a host of `architecture` (amd64 or arm64) in `region`.

    `signing_key` and `fingerprint` exist for the tests, which sign a package with a key of their
    own; the program always uses AWS's key.
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture {architecture!r} has no SSM agent package; expected amd64 or arm64")
    armored = signing_key if signing_key is not None else SIGNING_KEY_FILE.read_text(encoding="ascii")
    keyring = base64.b64encode(dearmor(armored)).decode("ascii")
    url = f"https://s3.{region}.amazonaws.com/amazon-ssm-{region}/latest/debian_{architecture}"
    return f"""#!/bin/bash
# soc2kit: install AWS's SSM agent (not in Debian's archive), verifying its signature before dpkg runs.
# Any failure stops here with a message in /var/log/cloud-init-output.log and the serial console.
set -euo pipefail
umask 077

package_dir={shlex.quote(url)}
fingerprint={fingerprint}
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT

fail() {{
  echo "soc2kit user-data: ERROR: $*" | tee /dev/console >&2 || true
  exit 1
}}

echo {keyring} | base64 -d > "$workdir/amazon-ssm-agent.gpg"
for file in amazon-ssm-agent.deb amazon-ssm-agent.deb.sig; do
  curl --fail --silent --show-error --location --proto =https --tlsv1.2 --retry 5 --retry-connrefused \\
    --output "$workdir/$file" "$package_dir/$file" || fail "cannot download $package_dir/$file"
done

# gpgv checks the signature against our copy of AWS's key only; VALIDSIG names the key that signed.
status="$(gpgv --status-fd 1 --keyring "$workdir/amazon-ssm-agent.gpg" \\
  "$workdir/amazon-ssm-agent.deb.sig" "$workdir/amazon-ssm-agent.deb" 2>/dev/null)" \\
  || fail "amazon-ssm-agent.deb from $package_dir has no valid signature of AWS's key; not installed"
grep -Eq "^\\[GNUPG:\\] VALIDSIG .* $fingerprint\\$" <<<"$status" \\
  || fail "amazon-ssm-agent.deb is not signed by key $fingerprint; not installed"

dpkg --install "$workdir/amazon-ssm-agent.deb"
systemctl enable --now amazon-ssm-agent
echo "soc2kit user-data: amazon-ssm-agent installed (signature by $fingerprint verified)"
"""
