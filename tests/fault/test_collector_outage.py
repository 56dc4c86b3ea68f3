"""The log collector stopped for 60 s under steady log traffic, then restarted: every event written on the
app host during the outage arrives, and none more often than RELP's at-least-once delivery allows.

A generator on the app host writes numbered syslog messages at a steady rate (python3 from Debian, a
transient systemd unit, bounded in count and time); rsyslog on the collector is stopped 10 s in and
started again 60 s later; then the test waits for the backlog to drain and counts every number on the
collector. RELP may deliver a message again after a reconnect (the notes measured about 30 duplicates
at 500 msg/s), so a number may appear twice, never more, and none may be missing.
"""

from __future__ import annotations

import collections
import re
import time
import uuid

import pytest
from kit.local import COLLECTOR_LOG_DIR

from .ops import container_or_fail, wait_for

RATE_PER_SECOND = 50
BEFORE_SECONDS = 10
OUTAGE_SECONDS = 60
AFTER_SECONDS = 10
DRAIN_TIMEOUT = 180
TOTAL = RATE_PER_SECOND * (BEFORE_SECONDS + OUTAGE_SECONDS + AFTER_SECONDS)
TAG = "soc2kit-faulttest"
GENERATOR_UNIT = "soc2kit-faulttest-logs"
# rsyslog, and syslog.socket where it exists (it would start rsyslog again on the next local message).
COLLECTOR_UNITS = ("syslog.socket", "rsyslog.service")

GENERATOR = f"""
import sys, syslog, time
run, total, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
syslog.openlog("{TAG}", 0, syslog.LOG_USER)
start = time.monotonic()
for number in range(1, total + 1):
    syslog.syslog(syslog.LOG_NOTICE, f"faulttest run={{run}} seq={{number}}")
    delay = start + number / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
"""


def _delivered(stack, collector: str, run: str) -> collections.Counter:
    result = stack.sh(
        collector, f"grep -rhoa 'faulttest run={run} seq=[0-9]*' {COLLECTOR_LOG_DIR} 2>/dev/null", check=False
    )
    return collections.Counter(int(n) for n in re.findall(r"seq=(\d+)", result.stdout))


def test_collector_outage_of_60s_loses_nothing(stack, figures):
    collector = container_or_fail(stack, "log_collectors")
    probe = f"probe-{uuid.uuid4().hex[:8]}"
    stack.exec(stack.app, ["logger", "-t", TAG, f"faulttest run={probe} seq=1"])
    try:
        wait_for(lambda: _delivered(stack, collector, probe), 30, "a probe message to reach the collector")
    except AssertionError as error:
        pytest.fail(
            f"{error}: user.notice messages from `logger` are not shipped to {collector}", pytrace=False
        )
    units = [
        unit
        for unit in COLLECTOR_UNITS
        if stack.exec(collector, ["systemctl", "show", "-P", "LoadState", unit]).stdout.strip() == "loaded"
    ]
    run = uuid.uuid4().hex[:10]
    stack.exec(
        stack.app,
        ["systemd-run", f"--unit={GENERATOR_UNIT}", "--collect", "--quiet",
         f"--property=RuntimeMaxSec={BEFORE_SECONDS + OUTAGE_SECONDS + AFTER_SECONDS + 60}",
         "/usr/bin/python3", "-c", GENERATOR, run, str(TOTAL), str(RATE_PER_SECOND)],
    )  # fmt: skip
    stopped_at = started_at = None
    try:
        time.sleep(BEFORE_SECONDS)
        stack.exec(collector, ["systemctl", "stop", *units])
        stopped_at = time.monotonic()
        time.sleep(OUTAGE_SECONDS)
    finally:
        stack.exec(collector, ["systemctl", "start", *units])
        started_at = time.monotonic()
    outage_seconds = started_at - stopped_at if stopped_at else 0
    try:
        counts = wait_for(
            lambda: (c := _delivered(stack, collector, run)) and len(c) == TOTAL and c,
            DRAIN_TIMEOUT,
            f"all {TOTAL} messages to reach the collector",
            interval=2,
        )
        drained_after = time.monotonic() - started_at
    except AssertionError:
        counts, drained_after = _delivered(stack, collector, run), None
    finally:
        stack.exec(stack.app, ["systemctl", "stop", GENERATOR_UNIT], check=False)
    missing = sorted(set(range(1, TOTAL + 1)) - set(counts))
    duplicated = {number: n for number, n in counts.items() if n > 1}
    figures.update(
        messages_written=TOTAL,
        rate_per_second=RATE_PER_SECOND,
        collector_down_s=round(outage_seconds, 1),
        distinct_delivered=len(counts),
        missing=len(missing),
        duplicates=sum(n - 1 for n in duplicated.values()),
        most_copies_of_one_message=max(counts.values(), default=0),
        drained_s_after_restart=round(drained_after, 1) if drained_after is not None else "not drained",
    )
    assert not missing, f"{len(missing)} message(s) lost, first numbers: {missing[:10]}"
    assert max(counts.values()) <= 2, (
        f"messages delivered more than twice: {dict(list(duplicated.items())[:10])}"
    )
