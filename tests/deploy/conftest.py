"""Shared fixtures of the deploy tests: recorded stack outputs, a PATH of recording fake commands, and an
environment without any AWS credentials (and no instance-metadata lookups, so nothing leaves the machine)."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import pytest
from kit import inventory

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
VENV_BIN = ROOT / ".venv" / "bin"

RECORDER = """#!/bin/sh
# Fake {name}: records its arguments; FAKE_{var} sets its exit status. It prints the file named by
# FAKE_{var}_OUT_<first two words of its arguments> (e.g. FAKE_PULUMI_OUT_stack_ls), else by FAKE_{var}_OUT.
# Shell built-ins only: the tests' PATH may hold nothing else.
printf '%s %s\\n' "{name}" "$*" >> "{log}"
key=""
for arg in "$@"; do
  case "$arg" in -*) continue ;; esac
  key="$key${{key:+_}}$arg"
  case "$key" in *_*) break ;; esac
done
case "$key" in *[!A-Za-z0-9_]*) key=none ;; esac
eval "out=\\${{FAKE_{var}_OUT_$key:-\\${{FAKE_{var}_OUT:-}}}}"
if [ -n "$out" ]; then
  while IFS= read -r line || [ -n "$line" ]; do printf '%s\\n' "$line"; done < "$out"
fi
exit "${{FAKE_{var}:-0}}"
"""


@pytest.fixture
def inventory_script() -> ModuleType:
    return inventory


# What a user writes over the shipped prod stack file's placeholder (checklist: "DNS zone").
USERS_ZONE_ID = "Z0123456789ABCDEFGHIJ"


def filled_in_pulumi_dir(tmp_path: Path, env: str = "prod") -> Path:
    """pulumi/ with the real validator and the shipped stack file of `env`, its placeholder Route53 zone id
    replaced by a real-looking one, as a user does before the first deploy."""
    directory = tmp_path / "pulumi-filled-in"
    directory.mkdir()
    for name in ("config.py", "Pulumi.yaml"):
        (directory / name).write_text((ROOT / "pulumi" / name).read_text())
    stack = (ROOT / "pulumi" / f"Pulumi.{env}.yaml").read_text()
    (directory / f"Pulumi.{env}.yaml").write_text(stack.replace("Z0000000000000EXAMPLE", USERS_ZONE_ID))
    return directory


class FakeBin:
    """A directory of fake commands that record every call to one log file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.log = directory / "calls.log"
        self.log.write_text("")

    def add(self, *names: str) -> FakeBin:
        for name in names:
            script = self.directory / name
            script.write_text(RECORDER.format(name=name, var=name.upper().replace("-", "_"), log=self.log))
            script.chmod(0o755)
        return self

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()


@pytest.fixture
def fakebin(tmp_path: Path) -> FakeBin:
    directory = tmp_path / "bin"
    directory.mkdir()
    return FakeBin(directory)


def no_credentials_env(tmp_path: Path, path: str) -> dict[str, str]:
    """A clean environment: no AWS credentials anywhere, IMDS lookups off, only `path` on PATH."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "PULUMI_", "KIT_"))}
    env.update(
        {
            "PATH": path,
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "HOME": str(tmp_path),
        }
    )
    env.pop("AUTO_APPROVE", None)
    env.pop("CONFIRM_DESTROY", None)
    return env


@pytest.fixture
def clean_aws_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same clean environment applied to this process (for in-process preflight calls)."""
    for key, value in no_credentials_env(tmp_path, os.environ.get("PATH", "")).items():
        monkeypatch.setenv(key, value)
    for key in list(os.environ):
        if key.startswith(
            ("AWS_ACCESS", "AWS_SECRET", "AWS_SESSION", "AWS_PROFILE", "AWS_ROLE", "AWS_WEB_IDENTITY")
        ):
            monkeypatch.delenv(key)


@pytest.fixture
def fake_aws_credentials(clean_aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials that only moto accepts (moto's documented test values)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
