"""The deploy history of the period, from what exists today:

- the kit's git history (every deploy deploys a commit of this checkout): commits made in the period;
- the converge logs `make deploy` leaves on the machine that ran it (.cache/logs/<UTC time>-<scenario>-
  converge.log, ENV=local): one per converge, by time and scenario;
- not gathered: the release folders on the hosts (roles/django_app keeps the last few only) and AWS
  deploy records (the AWS path writes no log file yet). The report says so.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .. import ROOT
from ..stages import LOG_DIR
from .period import Period

_LOG_NAME = re.compile(r"^(?P<stamp>\d{8}T\d{6}Z)-(?P<name>.+)-converge\.log$")
NOT_GATHERED = (
    "Not gathered: the release folders on the hosts (the django_app role keeps only the last few) and "
    "AWS deploy records (the AWS path writes no deploy log yet); the commits and converge logs below are "
    "what exists."
)


@dataclass(frozen=True)
class Commit:
    sha: str
    time: datetime
    author: str
    subject: str


@dataclass(frozen=True)
class Converge:
    time: datetime
    scenario: str
    log: str


def commits(period: Period, root: Path = ROOT) -> list[Commit]:
    done = subprocess.run(  # noqa: S603
        [  # noqa: S607
            "git",
            "-C",
            str(root),
            "log",
            f"--since={period.start.isoformat()}",
            f"--until={period.end.isoformat()}",
            "--format=%H%x1f%cI%x1f%an%x1f%s",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    found = []
    for line in done.stdout.splitlines():
        sha, when, author, subject = line.split("\x1f", 3)
        found.append(Commit(sha, datetime.fromisoformat(when).astimezone(UTC), author, subject))
    return found


def converges(period: Period, log_dir: Path = LOG_DIR) -> list[Converge]:
    found = []
    for path in sorted(log_dir.glob("*-converge.log")) if log_dir.is_dir() else []:
        match = _LOG_NAME.match(path.name)
        if not match:
            continue
        when = datetime.strptime(match.group("stamp"), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if period.start <= when < period.end:
            found.append(Converge(when, match.group("name"), path.name))
    return found
