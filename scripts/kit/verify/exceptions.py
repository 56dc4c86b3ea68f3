"""exceptions.yml: every accepted deviation, with its reason, owner and expiry date.

An active exception excuses its finding (testssl and pip_audit read theirs from here). An expired one
excuses nothing and is reported as a failure of its control until it is renewed or removed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from .. import KitError

DEFAULT_FILE = Path(__file__).with_name("exceptions.yml")
FIELDS = ("control", "finding", "reason", "owner", "expires")
# An exception is reviewed at least once a year.
MAX_DAYS_AHEAD = 366


@dataclass(frozen=True)
class ControlException:
    control: str
    finding: str
    reason: str
    owner: str
    expires: date

    def expired(self, today: date) -> bool:
        return today > self.expires

    def as_dict(self, today: date) -> dict[str, Any]:
        return {
            "control": self.control,
            "finding": self.finding,
            "reason": self.reason,
            "owner": self.owner,
            "expires": self.expires.isoformat(),
            "expired": self.expired(today),
        }


def _fail(path: Path, where: str, problem: str) -> KitError:
    return KitError(
        f"{path}: {where} {problem}",
        f"fix {where} in {path}: each entry needs {', '.join(FIELDS)} (expires as YYYY-MM-DD)",
    )


def load(
    path: Path | None = None, known_controls: set[str] | None = None, today: date | None = None
) -> tuple[ControlException, ...]:
    path = path or Path(os.environ.get("KIT_VERIFY_EXCEPTIONS") or DEFAULT_FILE)
    today = today or datetime.now(UTC).date()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise KitError(f"cannot read the exceptions file {path}: {error}", "restore it from git") from error
    if data is None:
        return ()
    if not isinstance(data, list):
        raise _fail(path, "the file", "must be a YAML list of exceptions")
    found: list[ControlException] = []
    for number, entry in enumerate(data, start=1):
        where = f"entry {number}"
        if not isinstance(entry, dict) or set(entry) != set(FIELDS):
            keys = sorted(entry) if isinstance(entry, dict) else entry
            raise _fail(path, where, f"has {keys!r}; it must have exactly the keys {', '.join(FIELDS)}")
        for key in ("control", "finding", "reason", "owner"):
            if not isinstance(entry[key], str) or not entry[key].strip():
                raise _fail(path, f"{where}.{key}", f"is {entry[key]!r}; it must be a non-empty text")
        expires = entry["expires"]
        if not isinstance(expires, date) or isinstance(expires, datetime):
            try:
                expires = date.fromisoformat(str(expires))
            except ValueError:
                raise _fail(
                    path, f"{where}.expires", f"is {expires!r}; it must be a date YYYY-MM-DD"
                ) from None
        if (expires - today).days > MAX_DAYS_AHEAD:
            raise _fail(
                path,
                f"{where}.expires",
                f"is {expires}: more than {MAX_DAYS_AHEAD} days ahead (review yearly)",
            )
        if known_controls is not None and entry["control"] not in known_controls:
            raise _fail(
                path,
                f"{where}.control",
                f"is {entry['control']!r}; one of {', '.join(sorted(known_controls))}",
            )
        found.append(
            ControlException(entry["control"], entry["finding"], entry["reason"], entry["owner"], expires)
        )
    return tuple(found)


def active_findings(items: tuple[ControlException, ...], control: str, today: date) -> dict[str, str]:
    """finding -> reason of the exceptions of `control` still in force (what a check may excuse)."""
    return {
        item.finding: f"{item.reason} (owner: {item.owner}; expires {item.expires})"
        for item in items
        if item.control == control and not item.expired(today)
    }
