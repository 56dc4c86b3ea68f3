"""The daily check results of the period: one JSON line per control, host and run, of the shape

    {"soc2kit_check": "<control id>", "status": "pass|fail", "host": "<host>", "time": "<ISO 8601>"}

written to the journal by the hosts' daily check timer and carried by the log pipeline: for ENV=local to
the collector's files (/var/log/remote/<host>/<program>.log, rsyslog's file format: a line prefix, then
the message), on AWS into the stack's CloudWatch Logs groups.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .. import KitError

MARKER = '"soc2kit_check"'
_KEY = re.compile(r'"soc2kit_check"\s*:')
STATUSES = ("pass", "fail")


@dataclass(frozen=True, order=True)
class DailyResult:
    time: datetime
    control: str
    host: str
    status: str

    def as_dict(self) -> dict[str, str]:
        return {
            "soc2kit_check": self.control,
            "status": self.status,
            "host": self.host,
            "time": self.time.isoformat(),
        }


def parse_line(line: str) -> DailyResult | None:
    """The result in one log line (framed by rsyslog or bare), None when the line holds none.

    A line that carries the marker but not the shape is an error naming the line: a result the
    evidence silently dropped would make a failing day look like a day that never ran."""
    start = line.find("{")
    if start < 0 or not _KEY.search(line, start):
        return None  # no result (a command line that merely names the marker, for example)
    try:
        data: Any = json.loads(line[start:])
    except ValueError:
        raise KitError(
            f"a daily check line is not JSON: {line.strip()[:200]}", "fix the check timer's output"
        ) from None
    if not isinstance(data, dict) or "soc2kit_check" not in data:
        return None
    missing = [key for key in ("soc2kit_check", "status", "host", "time") if not data.get(key)]
    if missing or data["status"] not in STATUSES:
        raise KitError(
            f"a daily check line lacks {missing or ['a status of pass|fail']}: {line.strip()[:200]}",
            'each line must be {"soc2kit_check": id, "status": "pass|fail", "host": name, "time": ISO 8601}',
        )
    try:
        when = datetime.fromisoformat(str(data["time"]).replace("Z", "+00:00"))
    except ValueError:
        raise KitError(
            f"a daily check line has a bad time {data['time']!r}", "use ISO 8601 with a zone"
        ) from None
    if when.tzinfo is None:
        raise KitError(f"a daily check line's time {data['time']!r} has no zone", "write UTC times (…Z)")
    return DailyResult(when.astimezone(UTC), str(data["soc2kit_check"]), str(data["host"]), data["status"])


def parse_lines(lines: Iterable[str]) -> list[DailyResult]:
    """Every result in the lines, each once (the log pipeline may deliver a line twice after an outage)."""
    found = {result for line in lines if (result := parse_line(line)) is not None}
    return sorted(found)


def in_period(results: Sequence[DailyResult], start: datetime, end: datetime) -> list[DailyResult]:
    return [result for result in results if start <= result.time < end]


# Where the collector keeps what the hosts ship (roles/log_shipping: log_shipping_remote_dir).
COLLECTOR_GLOB = "/var/log/remote"


def collector_command() -> list[str]:
    """Lines with a result, from every file the collector wrote (rotated plain files included)."""
    return ["grep", "-rhF", "--include=*.log*", MARKER, COLLECTOR_GLOB]


def read_cloudwatch(
    client: Any, log_groups: Sequence[str], start: datetime, end: datetime
) -> list[DailyResult]:
    """The results in the stack's log groups for the period (FilterLogEvents, every page)."""
    lines: list[str] = []
    for group in log_groups:
        paginator = client.get_paginator("filter_log_events")
        pages = paginator.paginate(
            logGroupName=group,
            startTime=int(start.timestamp() * 1000),
            endTime=int(end.timestamp() * 1000),
            filterPattern='"soc2kit_check"',
        )
        for page in pages:
            lines.extend(event["message"] for event in page.get("events", []))
    return parse_lines(lines)
