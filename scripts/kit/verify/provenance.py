"""Who ran a report, where, and on which code: what an auditor asks of every report (verify, evidence)."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .. import ROOT

# How every report writes a time (reports are in UTC).
REPORT_TIME = "%Y-%m-%d %H:%M:%S UTC"
# ENVs whose evidence must never be mistaken for production's.
NOT_PRODUCTION = ("local", "rehearsal")
NOT_PRODUCTION_BANNER = (
    "NOT PRODUCTION: ENV={env} runs on local containers (and stand-ins for AWS); "
    "this is no evidence about a production system"
)


@dataclass(frozen=True)
class Provenance:
    operator: str
    machine: str
    aws_identity: str
    commit: str
    local_changes: list[str]

    @property
    def checkout(self) -> str:
        if not self.local_changes:
            return "clean (no local changes)"
        shown = ", ".join(self.local_changes[:10])
        more = f" and {len(self.local_changes) - 10} more" if len(self.local_changes) > 10 else ""
        return f"LOCAL CHANGES in {len(self.local_changes)} file(s): {shown}{more}"

    def markdown_lines(self, who_did: str, started: datetime, ended: datetime) -> list[str]:
        """The who / when / which-code lines every report opens with (`who_did`: "Run by", ...)."""
        return [
            f"- {who_did}: {self.operator} on {self.machine}; AWS identity: {self.aws_identity}",
            f"- Started: {started.strftime(REPORT_TIME)}; ended: {ended.strftime(REPORT_TIME)}",
            f"- Kit commit: `{self.commit}`; checkout: {self.checkout}",
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "operator": self.operator,
            "machine": self.machine,
            "aws_identity": self.aws_identity,
            "commit": self.commit,
            "local_changes": self.local_changes,
        }


def banner(env: str) -> str | None:
    return NOT_PRODUCTION_BANNER.format(env=env) if env in NOT_PRODUCTION else None


def operator() -> str:
    """The person: sudo's caller when run through sudo, else the login name."""
    user = os.environ.get("SUDO_USER") or getpass.getuser()
    return user


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(  # noqa: S603
            ["git", "-C", str(ROOT), *args],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state() -> tuple[str, list[str]]:
    """The checked-out commit and the files that differ from it (ignored files such as evidence/ aside)."""
    commit = (_git("rev-parse", "HEAD") or "").strip() or "unknown (not a git checkout)"
    status = _git("status", "--porcelain", "--untracked-files=normal")
    changed = [line[3:] for line in (status or "").splitlines() if line.strip()]
    return commit, changed


def aws_identity(env: str, session: Any = None) -> str:
    """The caller's ARN from STS for the AWS ENVs; ENV=local has none."""
    if env == "local":
        return "none (ENV=local uses no AWS account)"
    try:
        if session is None:
            import boto3

            session = boto3.session.Session()
        return str(session.client("sts").get_caller_identity()["Arn"])
    except Exception as error:  # any failure is reported in the report, never fatal
        return f"could not be read ({type(error).__name__}: {str(error)[:120]})"


def collect(env: str, session: Any = None) -> Provenance:
    commit, changed = git_state()
    return Provenance(operator(), socket.gethostname(), aws_identity(env, session), commit, changed)
