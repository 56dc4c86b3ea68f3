"""The hosts' user_data installs the SSM agent only after its signature verifies.

The rendered script runs here for real (bash, gpgv) with curl, dpkg and systemctl replaced by
recording fakes: a package signed by the pinned key is installed; a tampered package, a package
signed by another key, or a failed download stops the script before dpkg runs, non-zero and saying
why. The program always renders it with AWS's key; these tests sign with keys of their own.
"""

from __future__ import annotations

import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from components.ssm_agent import SIGNING_KEY_FILE, SIGNING_KEY_FINGERPRINT, dearmor, render_user_data

FAKE_CURL = """#!/bin/bash
# Serves $PACKAGES/<file name of the URL> to --output; a URL whose file is missing fails like curl -f.
while [[ $# -gt 0 ]]; do
  case "$1" in --output) out="$2"; shift 2;; http*) url="$1"; shift;; *) shift;; esac
done
echo "$url" >> "$LOG/curl"
cp "$PACKAGES/${url##*/}" "$out" 2>/dev/null || { echo "curl: (22) 404" >&2; exit 22; }
"""
FAKE_RECORDER = """#!/bin/bash
echo "$(basename "$0") $*" >> "$LOG/installed"
"""


@dataclass
class SigningKey:
    armored: str
    fingerprint: str


def gpg(home: Path, *args: str, data: bytes | None = None) -> bytes:
    command = [
        "gpg",
        "--homedir",
        str(home),
        "--batch",
        "--quiet",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
    ]
    return subprocess.run([*command, *args], input=data, check=True, capture_output=True).stdout


def new_key(home: Path, uid: str) -> SigningKey:
    gpg(home, "--quick-gen-key", uid, "ed25519", "sign", "never")
    colons = gpg(home, "--with-colons", "--fingerprint", uid).decode()
    fingerprint = next(line.split(":")[9] for line in colons.splitlines() if line.startswith("fpr:"))
    return SigningKey(gpg(home, "--armor", "--export", uid).decode(), fingerprint)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SigningKey, SigningKey]:
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    return (
        home,
        new_key(home, "Package Signer <signer@example.org>"),
        new_key(home, "Someone Else <else@example.org>"),
    )


def serve(directory: Path, home: Path, signer: SigningKey, package: bytes = b"agent package") -> None:
    (directory / "amazon-ssm-agent.deb").write_bytes(package)
    signature = gpg(home, "--local-user", signer.fingerprint, "--detach-sign", "--output", "-", data=package)
    (directory / "amazon-ssm-agent.deb.sig").write_bytes(signature)


@dataclass
class Boot:
    returncode: int
    stderr: str
    downloads: list[str]
    installed: list[str]


def boot(tmp_path: Path, script: str) -> Boot:
    """Runs the user_data as cloud-init would (as a file), with the fakes first on PATH."""
    bin_dir, log, packages = tmp_path / "bin", tmp_path / "log", tmp_path / "packages"
    for name, text in {"curl": FAKE_CURL, "dpkg": FAKE_RECORDER, "systemctl": FAKE_RECORDER}.items():
        bin_dir.mkdir(exist_ok=True)
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    log.mkdir(exist_ok=True)
    (tmp_path / "user-data").write_text(script)
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "LOG": str(log),
        "PACKAGES": str(packages),
    }
    result = subprocess.run(
        ["bash", str(tmp_path / "user-data")], env=environment, capture_output=True, text=True
    )

    def lines(name: str) -> list[str]:
        return (log / name).read_text().splitlines() if (log / name).exists() else []

    return Boot(result.returncode, result.stderr, lines("curl"), lines("installed"))


@pytest.fixture
def packages(tmp_path: Path) -> Path:
    directory = tmp_path / "packages"
    directory.mkdir()
    return directory


def test_package_signed_by_the_pinned_key_is_installed_and_started(
    tmp_path: Path, packages: Path, keys: tuple[Path, SigningKey, SigningKey]
) -> None:
    home, signer, _ = keys
    serve(packages, home, signer)
    result = boot(
        tmp_path,
        render_user_data("eu-central-1", "arm64", signing_key=signer.armored, fingerprint=signer.fingerprint),
    )
    assert result.returncode == 0, result.stderr
    base = "https://s3.eu-central-1.amazonaws.com/amazon-ssm-eu-central-1/latest/debian_arm64"
    assert result.downloads == [f"{base}/amazon-ssm-agent.deb", f"{base}/amazon-ssm-agent.deb.sig"]
    assert len(result.installed) == 2
    assert result.installed[0].startswith("dpkg --install ")
    assert result.installed[0].endswith("/amazon-ssm-agent.deb")
    assert result.installed[1] == "systemctl enable --now amazon-ssm-agent"


def test_tampered_package_is_not_installed(
    tmp_path: Path, packages: Path, keys: tuple[Path, SigningKey, SigningKey]
) -> None:
    home, signer, _ = keys
    serve(packages, home, signer)
    (packages / "amazon-ssm-agent.deb").write_bytes(b"agent package with a backdoor")
    result = boot(
        tmp_path,
        render_user_data("eu-west-1", "amd64", signing_key=signer.armored, fingerprint=signer.fingerprint),
    )
    assert result.returncode != 0
    assert result.installed == []
    assert "has no valid signature of AWS's key; not installed" in result.stderr


def test_package_signed_by_another_key_is_not_installed(
    tmp_path: Path, packages: Path, keys: tuple[Path, SigningKey, SigningKey]
) -> None:
    home, signer, someone_else = keys
    serve(packages, home, someone_else)
    result = boot(
        tmp_path,
        render_user_data("eu-west-1", "amd64", signing_key=signer.armored, fingerprint=signer.fingerprint),
    )
    assert result.returncode != 0
    assert result.installed == []
    assert "has no valid signature of AWS's key" in result.stderr


def test_signature_must_come_from_the_pinned_fingerprint(
    tmp_path: Path, packages: Path, keys: tuple[Path, SigningKey, SigningKey]
) -> None:
    """A keyring holding a second key must not let that key's signature through."""
    home, signer, someone_else = keys
    serve(packages, home, someone_else)
    both = someone_else.armored  # in the keyring, but not the pinned fingerprint
    result = boot(
        tmp_path, render_user_data("eu-west-1", "amd64", signing_key=both, fingerprint=signer.fingerprint)
    )
    assert result.returncode != 0
    assert result.installed == []
    assert f"is not signed by key {signer.fingerprint}; not installed" in result.stderr


def test_failed_download_stops_before_anything_is_installed(tmp_path: Path, packages: Path) -> None:
    result = boot(tmp_path, render_user_data("eu-west-1", "amd64"))
    assert result.returncode != 0
    assert result.installed == []
    assert (
        "cannot download https://s3.eu-west-1.amazonaws.com/amazon-ssm-eu-west-1/latest/debian_amd64/amazon-ssm-agent.deb"
        in result.stderr
    )


def test_script_stops_on_the_first_error_and_verifies_before_installing() -> None:
    script = render_user_data("us-east-2", "amd64")
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    first_command = next(line for line in lines[1:] if line and not line.startswith("#"))
    assert first_command == "set -euo pipefail"
    assert script.index("gpgv ") < script.index("VALIDSIG") < script.index("dpkg --install")
    assert "https://s3.us-east-2.amazonaws.com/amazon-ssm-us-east-2/latest/debian_amd64" in script


def test_unknown_architecture_is_refused() -> None:
    with pytest.raises(ValueError, match="architecture 'i386' has no SSM agent package"):
        render_user_data("eu-west-1", "i386")


def test_shipped_key_is_aws_ssm_agent_key(tmp_path: Path) -> None:
    """The key in the repository is the one AWS publishes (fingerprint from AWS's documentation)."""
    assert SIGNING_KEY_FINGERPRINT == "DE92C7DA3E56E92331D62A36BC1F495C97DD04ED"
    keyring = tmp_path / "keyring.gpg"
    keyring.write_bytes(dearmor(SIGNING_KEY_FILE.read_text()))
    colons = subprocess.run(
        ["gpg", "--homedir", str(tmp_path), "--with-colons", "--show-keys", str(keyring)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert [line.split(":")[9] for line in colons.splitlines() if line.startswith("fpr:")] == [
        SIGNING_KEY_FINGERPRINT
    ]
    assert "SSM Agent <ssm-agent-signer@amazon.com>" in colons
