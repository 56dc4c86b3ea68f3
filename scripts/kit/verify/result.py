"""What a check returns: a status, a one-line summary, figures, and its raw outputs (attachments)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PASS = "pass"  # noqa: S105 (a status, not a password)
FAIL = "fail"
# The check could not run (tool missing, host unreachable): never counted as passed.
ERROR = "error"
# Informational (for the periodic review): shown, neither pass nor fail.
INFO = "info"
STATUSES = (PASS, FAIL, ERROR, INFO)


@dataclass
class Attachment:
    """A raw output kept as evidence; written to attachments/<name> after scrubbing."""

    name: str
    content: str


@dataclass
class Outcome:
    """The verdict of a check's evaluation of its tool's output."""

    status: str
    summary: str
    figures: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; one of {STATUSES}")


@dataclass
class CheckResult:
    check_id: str
    title: str
    criteria: tuple[str, ...]
    status: str
    summary: str
    figures: dict[str, Any] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status in (FAIL, ERROR)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.check_id,
            "title": self.title,
            "criteria": list(self.criteria),
            "status": self.status,
            "summary": self.summary,
            "figures": self.figures,
            "attachments": [f"attachments/{item.name}" for item in self.attachments],
            "duration_s": round(self.duration_s, 1),
        }


class CheckError(Exception):
    """A check could not run; the message says why and how to fix it (status ERROR)."""
