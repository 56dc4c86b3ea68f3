"""The daily check results: read from the collector's files and from CloudWatch Logs (moto), per control
population, runs, failures and time to fix."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import boto3
import pytest
from kit import KitError
from kit.evidence import daily
from kit.evidence.period import Period, control_stats
from moto import mock_aws

from .conftest import PERIOD, collector_lines


def test_results_are_read_from_rsyslog_framed_lines_once_each():
    results = daily.parse_lines(collector_lines())
    # 9 lines: one is sshd's own log line, one a duplicate delivered twice (RELP after an outage).
    assert len(results) == 7
    first = results[0]
    assert (first.control, first.status, first.host) in {
        ("sshd", "pass", "app-1"),
        ("file_modes", "pass", "app-1"),
    }
    assert first.time == datetime(2026, 11, 1, 3, 12, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "named"),
    [
        (
            'x: {"soc2kit_check": "sshd", "status": "ok", "host": "a", "time": "2026-11-01T00:00:00Z"}',
            "pass|fail",
        ),
        ('x: {"soc2kit_check": "sshd", "status": "pass", "time": "2026-11-01T00:00:00Z"}', "host"),
        (
            'x: {"soc2kit_check": "sshd", "status": "pass", "host": "a", "time": "2026-11-01 00:00"}',
            "no zone",
        ),
        ('x: {"soc2kit_check": "sshd", "status": "pa', "not JSON"),
    ],
)
def test_a_malformed_result_line_is_an_error_naming_it(line, named):
    with pytest.raises(KitError, match=named):
        daily.parse_line(line)


def test_lines_without_a_result_are_ignored():
    assert daily.parse_line('app sshd[1]: {"user": "x"}') is None
    assert daily.parse_line("plain text") is None
    # sudo logs the command an admin ran on the collector: it names the marker but holds no result.
    assert (
        daily.parse_line('sudo: admin : COMMAND=/usr/bin/grep -rhF "soc2kit_check" /var/log/remote') is None
    )
    assert daily.parse_line('app: {"message": "grep \\"soc2kit_check\\" found 3 lines"}') is None


def test_per_control_population_runs_failures_and_time_to_fix():
    stats = {s.control: s for s in control_stats(daily.parse_lines(collector_lines()), PERIOD)}
    modes = stats["file_modes"]
    assert (modes.population, modes.runs, modes.failures, modes.missed) == (4, 3, 1, 1)
    (drift,) = modes.drifts
    assert drift.failed_at == datetime(2026, 11, 2, 4, 40, 51, tzinfo=UTC)
    assert drift.fixed_at == datetime(2026, 11, 3, 2, 5, 33, tzinfo=UTC)
    assert drift.hours_to_fix() == 21.4
    sshd = stats["sshd"]
    assert (sshd.runs, sshd.failures, sshd.missed) == (4, 1, 0)
    assert sshd.drifts[0].fixed_at is None  # still failing when the period ends
    assert sshd.drifts[0].hours_to_fix() is None


def test_results_outside_the_period_are_left_out():
    results = daily.parse_lines(collector_lines())
    inside = daily.in_period(results, PERIOD.start, datetime(2026, 11, 3, tzinfo=UTC))
    assert {r.time.day for r in inside} == {1, 2}


def test_the_collector_command_reads_every_remote_file_by_the_marker():
    assert daily.collector_command() == [
        "grep",
        "-rhF",
        "--include=*.log*",
        '"soc2kit_check"',
        "/var/log/remote",
    ]


@mock_aws
def test_cloudwatch_results_of_the_period_from_every_log_group():
    # CloudWatch (and moto) refuse events older than 14 days: the period is the last few days.
    today = datetime.now(UTC).date()
    period = Period(today - timedelta(days=3), today)
    day = [datetime.combine(period.since + timedelta(days=n), time(3), tzinfo=UTC) for n in range(3)]
    logs = boto3.client("logs", region_name="eu-west-1")
    for group in ("/soc2kit/dev/system", "/soc2kit/dev/app"):
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="soc2kit-dev-app-1")

    def put(group, when, text):
        logs.put_log_events(
            logGroupName=group,
            logStreamName="soc2kit-dev-app-1",
            logEvents=[{"timestamp": int(when.timestamp() * 1000), "message": text}],
        )

    def result(control, status, when):
        return json.dumps(
            {
                "soc2kit_check": control,
                "status": status,
                "host": "soc2kit-dev-app-1",
                "time": when.isoformat(),
            }
        )

    put("/soc2kit/dev/system", day[0], result("sshd", "pass", day[0]))
    put("/soc2kit/dev/system", day[1], "sshd[1]: unrelated line")
    put("/soc2kit/dev/app", day[2], result("aide", "fail", day[2]))
    before = period.start - timedelta(hours=2)
    put("/soc2kit/dev/app", before, result("aide", "fail", before))
    results = daily.read_cloudwatch(
        logs, ["/soc2kit/dev/app", "/soc2kit/dev/system"], period.start, period.end
    )
    assert [(r.control, r.status, r.time) for r in results] == [
        ("sshd", "pass", day[0]),
        ("aide", "fail", day[2]),
    ]
