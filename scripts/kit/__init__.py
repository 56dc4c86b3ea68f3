"""The kit's command-line workflows: `make deploy|plan|destroy|rollback ENV=...` (run as `python -m kit`).

Bash in scripts/ is only glue; the logic lives here so that it is tested (tests/deploy/).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PULUMI_DIR = ROOT / "pulumi"
ANSIBLE_DIR = ROOT / "ansible"
MOLECULE_DIR = ROOT / "molecule"

LOCAL = "local"
AWS_ENVIRONMENTS = ("dev", "staging", "prod")
# The AWS flow on local containers (scripts/kit/rehearsal.py): prod's code, only the cloud replaced.
REHEARSAL = "rehearsal"
ENVIRONMENTS = (LOCAL, *AWS_ENVIRONMENTS, REHEARSAL)
WEB_SERVERS = ("nginx", "apache")
# ENV=local converges the molecule scenario of the chosen web server and keeps it running.
LOCAL_SCENARIOS = {"nginx": "default", "apache": "apache"}


class KitError(Exception):
    """A failure the user can fix: `what` failed, `fix` says how."""

    def __init__(self, what: str, fix: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix

    def report(self, status: int = 2, label: str = "ERROR") -> int:
        """Print what failed and how to fix it on stderr; return `status` (a command's exit code)."""
        print(f"{label}: {self.what}", file=sys.stderr)
        if self.fix:
            print(f"How to fix: {self.fix}", file=sys.stderr)
        return status


def check_env(env: str) -> str:
    if env not in ENVIRONMENTS:
        raise KitError(
            f"unknown ENV={env!r}; choose one of: {', '.join(ENVIRONMENTS)}",
            "ENV=local runs everything on local containers; dev, staging and prod are the AWS stacks "
            "(pulumi/Pulumi.<ENV>.yaml); ENV=rehearsal runs prod's AWS flow on local containers",
        )
    return env


def check_web(web: str) -> str:
    if web not in WEB_SERVERS:
        raise KitError(
            f"unknown WEB={web!r}; choose one of: {', '.join(WEB_SERVERS)}", "WEB=nginx is the default"
        )
    return web
