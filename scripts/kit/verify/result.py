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
# The control does not exist in this ENV (an AWS service on ENV=local) or was not selected: with a reason.
NOT_APPLICABLE = "not_applicable"
STATUSES = (PASS, FAIL, ERROR, INFO, NOT_APPLICABLE)
# How people read each status (an ERROR is a check that could not run, never a failed control).
LABELS = {PASS: "PASS", FAIL: "FAIL", ERROR: "COULD NOT RUN", INFO: "INFO", NOT_APPLICABLE: "N/A"}


@dataclass
class Attachment:
    """A raw output kept as evidence; written to attachments/<name> after scrubbing."""

    name: str
    content: str


@dataclass(frozen=True)
class ControlRow:
    """One control in the report: what it is, its criteria, the test that proves it, its result."""

    control_id: str
    title: str
    criteria: tuple[str, ...]
    test: str
    status: str
    summary: str


@dataclass
class Outcome:
    """The verdict of a check's evaluation of its tool's output."""

    status: str
    summary: str
    figures: dict[str, Any] = field(default_factory=dict)
    controls: list[ControlRow] = field(default_factory=list)

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
    # What produced the verdict (the check function), for the report's "test" column.
    test: str = ""
    # The controls this check evidences, when it covers several (testinfra: one row per test module).
    controls: list[ControlRow] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    @property
    def could_not_run(self) -> bool:
        return self.status == ERROR

    def rows(self) -> list[ControlRow]:
        """The report's rows: one per control this check evidences (itself, when it covers one). A check
        that failed or could not run as a whole (pytest killed, exit code) keeps its own row as well."""
        own = ControlRow(self.check_id, self.title, self.criteria, self.test, self.status, self.summary)
        if not self.controls:
            return [own]
        rows = list(self.controls)
        if self.status in (FAIL, ERROR) and not any(row.status == self.status for row in rows):
            rows.insert(0, own)
        return rows

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
            "test": self.test,
            "controls": [
                {
                    "id": row.control_id,
                    "title": row.title,
                    "criteria": list(row.criteria),
                    "test": row.test,
                    "status": row.status,
                    "summary": row.summary,
                }
                for row in self.controls
            ],
        }


def exit_code(rows: list[ControlRow]) -> int:
    """0: every control passed (or was informational / not applicable); 1: a control failed;
    3: none failed but at least one could not run (so nothing is claimed about it)."""
    if any(row.status == FAIL for row in rows):
        return 1
    if any(row.status == ERROR for row in rows):
        return 3
    return 0


class CheckError(Exception):
    """A check could not run; the message says why and how to fix it (status ERROR)."""
