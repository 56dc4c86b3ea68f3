"""Loads and validates thresholds.yml: a bad value fails before any check runs, naming the key."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from .. import KitError
from . import exceptions as exception_file

DEFAULT_FILE = Path(__file__).with_name("thresholds.yml")
GRADES = ("A+", "A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D+", "D", "D-", "F")
SEVERITIES = ("INFO", "OK", "LOW", "MEDIUM", "HIGH", "CRITICAL", "WARN")


@dataclass(frozen=True)
class Thresholds:
    lynis_min_hardening_index: int
    systemd_max_exposure: dict[str, Any]
    certificate_min_days_left: int
    key_max_age_days: int
    observatory_min_grade: str
    observatory_min_score: int
    testssl_failing_severities: tuple[str, ...]
    # Read from exceptions.yml (active entries only), not from this file.
    testssl_exceptions: dict[str, str]
    pip_audit_ignore: dict[str, str]
    source: str
    exceptions: tuple[exception_file.ControlException, ...] = ()

    def units(self, web: str) -> dict[str, float]:
        """Unit -> maximum exposure for the app, the chosen web server and log shipping."""
        table = self.systemd_max_exposure
        return {**table["app"], **table["web"][web], **table["log_shipping"]}


def _fail(path: Path, key: str, problem: str) -> KitError:
    return KitError(f"{path}: {key} {problem}", f"fix {key} in {path} (see the comments there)")


def _number(path: Path, key: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _fail(path, key, f"is {value!r}; it must be a number from {low} to {high}")
    return value


def _units(path: Path, key: str, value: Any) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise _fail(path, key, f"is {value!r}; it must map unit names to a maximum exposure")
    for unit, limit in value.items():
        if not str(unit).endswith((".service", ".socket", ".timer")):
            raise _fail(path, f"{key}.{unit}", "is not a systemd unit name (e.g. nginx.service)")
        _number(path, f"{key}.{unit}", limit, 0.0, 10.0)
    return value


def load(
    path: Path | None = None, exceptions_path: Path | None = None, today: date | None = None
) -> Thresholds:
    """`today` decides which exceptions are still in force (the real date unless a test pins it)."""
    path = path or Path(os.environ.get("KIT_VERIFY_THRESHOLDS") or DEFAULT_FILE)
    today = today or datetime.now(UTC).date()
    accepted = exception_file.load(exceptions_path, today=today)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise KitError(f"cannot read the verify thresholds {path}: {error}", "restore it from git") from error
    if not isinstance(data, dict):
        raise KitError(f"{path} is not a YAML mapping", "restore it from git")
    expected = set(Thresholds.__dataclass_fields__) - {
        "source",
        "exceptions",
        "testssl_exceptions",
        "pip_audit_ignore",
    }
    missing, unknown = expected - set(data), set(data) - expected
    if missing or unknown:
        raise KitError(
            f"{path}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}",
            f"the keys are: {', '.join(sorted(expected))}",
        )
    exposure = data["systemd_max_exposure"]
    if not isinstance(exposure, dict) or set(exposure) != {"app", "web", "log_shipping"}:
        raise _fail(path, "systemd_max_exposure", "must have exactly the keys app, web, log_shipping")
    _units(path, "systemd_max_exposure.app", exposure["app"])
    _units(path, "systemd_max_exposure.log_shipping", exposure["log_shipping"])
    web = exposure["web"]
    if not isinstance(web, dict) or set(web) != {"nginx", "apache"}:
        raise _fail(path, "systemd_max_exposure.web", "must have exactly the keys nginx and apache")
    for name, units in web.items():
        _units(path, f"systemd_max_exposure.web.{name}", units)
    grade = data["observatory_min_grade"]
    if grade not in GRADES:
        raise _fail(path, "observatory_min_grade", f"is {grade!r}; one of {', '.join(GRADES)}")
    severities = data["testssl_failing_severities"]
    if not isinstance(severities, list) or not severities or any(s not in SEVERITIES for s in severities):
        raise _fail(path, "testssl_failing_severities", f"is {severities!r}; a list from {SEVERITIES}")
    return Thresholds(
        lynis_min_hardening_index=int(
            _number(path, "lynis_min_hardening_index", data["lynis_min_hardening_index"], 0, 100)
        ),
        systemd_max_exposure=exposure,
        certificate_min_days_left=int(
            _number(path, "certificate_min_days_left", data["certificate_min_days_left"], 1, 365)
        ),
        key_max_age_days=int(_number(path, "key_max_age_days", data["key_max_age_days"], 1, 3650)),
        observatory_min_grade=grade,
        observatory_min_score=int(
            _number(path, "observatory_min_score", data["observatory_min_score"], 0, 200)
        ),
        testssl_failing_severities=tuple(severities),
        testssl_exceptions=exception_file.active_findings(accepted, "testssl", today),
        pip_audit_ignore=exception_file.active_findings(accepted, "pip_audit", today),
        source=str(path),
        exceptions=accepted,
    )
