"""Per control, over the period: population, runs, failures, drifts and the time each took to fix."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .daily import DailyResult


@dataclass(frozen=True)
class Period:
    since: date
    until: date  # inclusive

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, datetime.min.time()).replace(tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.until + timedelta(days=1), datetime.min.time()).replace(tzinfo=UTC)

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    def label(self) -> str:
        return f"{self.since.isoformat()} to {self.until.isoformat()}"


@dataclass(frozen=True)
class Drift:
    """A control that failed on a host and when it passed again (None: still failing at the end)."""

    host: str
    failed_at: datetime
    fixed_at: datetime | None

    def hours_to_fix(self) -> float | None:
        if self.fixed_at is None:
            return None
        return round((self.fixed_at - self.failed_at).total_seconds() / 3600, 1)


@dataclass
class ControlStats:
    control: str
    hosts: list[str]
    population: int  # runs expected: one per host and day of the period
    runs: int
    failures: int
    missed: int  # host-days with no result: the check did not run, or its result never arrived
    drifts: list[Drift] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "control": self.control,
            "hosts": self.hosts,
            "population": self.population,
            "runs": self.runs,
            "failures": self.failures,
            "missed_host_days": self.missed,
            "drifts": [
                {
                    "host": d.host,
                    "failed_at": d.failed_at.isoformat(),
                    "fixed_at": d.fixed_at.isoformat() if d.fixed_at else None,
                    "hours_to_fix": d.hours_to_fix(),
                }
                for d in self.drifts
            ],
        }


def drifts_of(results: Sequence[DailyResult]) -> list[Drift]:
    """Each run of failures on one host, from its first failure to the next pass (one host's results)."""
    found: list[Drift] = []
    failed_at: datetime | None = None
    for result in sorted(results):
        if result.status == "fail" and failed_at is None:
            failed_at = result.time
        elif result.status == "pass" and failed_at is not None:
            found.append(Drift(result.host, failed_at, result.time))
            failed_at = None
    if failed_at is not None:
        found.append(Drift(results[0].host, failed_at, None))
    return found


def control_stats(results: Sequence[DailyResult], period: Period) -> list[ControlStats]:
    by_control: dict[str, dict[str, list[DailyResult]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        by_control[result.control][result.host].append(result)
    stats = []
    for control, per_host in sorted(by_control.items()):
        host_days = {(host, r.time.date()) for host, items in per_host.items() for r in items}
        population = period.days * len(per_host)
        stats.append(
            ControlStats(
                control=control,
                hosts=sorted(per_host),
                population=population,
                runs=sum(len(items) for items in per_host.values()),
                failures=sum(r.status == "fail" for items in per_host.values() for r in items),
                missed=population - len(host_days),
                drifts=[d for host in sorted(per_host) for d in drifts_of(per_host[host])],
            )
        )
    return stats
