"""Controls of the CloudWatch Logs shipper (roles/log_shipping/files/soc2kit_log_shipper.py).

Each test feeds lines on stdin as rsyslog's omprog does with confirmMessages and useTransactions,
and reads the answers on stdout: a batch counts as stored only when COMMIT is answered OK.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import fake_aws
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from .conftest import (
    GROUPS,
    REGION,
    SHIPPER,
    STREAM,
    FakeClock,
    hours_ago,
    record,
    run_protocol,
    stored,
    transaction,
)


class FlakyClient:
    """The real (moto) client, except that put_log_events fails as told before it works."""

    def __init__(self, client: Any, failures: list[BaseException]) -> None:
        self.client = client
        self.failures = list(failures)
        self.puts: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def put_log_events(self, **kwargs: Any) -> Any:
        self.puts.append(kwargs)
        if self.failures:
            raise self.failures.pop(0)
        return self.client.put_log_events(**kwargs)


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"simulated {code}"}}, "PutLogEvents")


def marker(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:12]}"


def test_ready_then_batch_confirmed_only_after_it_is_stored_in_the_hosts_stream(shipper, logs, config_file):
    one, two = marker("one"), marker("two")
    status, answers = run_protocol(
        shipper,
        config_file,
        transaction(record("sshd", f"Accepted publickey {one}"), record("sshd", f"session opened {two}")),
        logs,
    )
    assert status == 0
    assert answers == ["OK", "OK", "DEFER_COMMIT", "DEFER_COMMIT", "OK"]
    messages = stored(logs, "system")
    assert len(messages) == 2
    assert one in messages[0]
    assert two in messages[1]


def test_missing_stream_is_created_but_never_a_log_group(shipper, logs, config_file):
    assert logs.describe_log_streams(logGroupName=GROUPS["app"])["logStreams"] == []
    run_protocol(shipper, config_file, transaction(record("django-app", '{"message": "x"}')), logs)
    streams = logs.describe_log_streams(logGroupName=GROUPS["app"])["logStreams"]
    assert [s["logStreamName"] for s in streams] == [STREAM]

    logs.delete_log_group(logGroupName=GROUPS["audit"])
    _, answers = run_protocol(shipper, config_file, transaction(record("auditd", "type=USER_LOGIN")), logs)
    assert answers[-1].startswith("ERROR log group /soc2kit/dev/audit does not exist")
    names = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
    assert GROUPS["audit"] not in names


def test_failed_batch_is_not_confirmed_and_its_resend_is_stored_once(shipper, logs, config_file):
    lines = [record("sudo", marker("sudo")), record("kernel", marker("kernel"))]
    # CloudWatch refuses the first attempt outright (no retry helps: AccessDenied).
    client = FlakyClient(logs, [client_error("AccessDeniedException")])
    clock = FakeClock()
    # rsyslog sends the same transaction again after the failed commit (it stayed in its queue).
    status, answers = run_protocol(
        shipper, config_file, transaction(*lines) + transaction(*lines), client, clock
    )
    assert status == 0
    assert answers[:4] == ["OK", "OK", "DEFER_COMMIT", "DEFER_COMMIT"]
    assert answers[4].startswith("ERROR ")
    assert "AccessDeniedException" in answers[4]
    assert answers[5:] == ["OK", "DEFER_COMMIT", "DEFER_COMMIT", "OK"]
    assert len(stored(logs, "system")) == 2
    # rsyslog resumes at once: the refusal itself is delayed, so a refused batch cannot loop hot.
    assert sum(clock.sleeps) >= 5


def test_unreachable_endpoint_fails_the_commit_after_retrying_with_backoff(shipper, logs, config_file):
    failures = [EndpointConnectionError(endpoint_url="https://logs.eu-west-1.amazonaws.com")] * 100
    client = FlakyClient(logs, failures)
    clock = FakeClock()
    _, answers = run_protocol(shipper, config_file, transaction(record("cron", "job")), client, clock)
    assert answers[-1].startswith("ERROR ")
    assert "EndpointConnectionError" in answers[-1]
    assert "gave up after 5 s" in answers[-1]
    assert len(clock.sleeps) >= 3
    assert clock.sleeps[1] > clock.sleeps[0]  # exponential backoff
    assert stored(logs, "system") == []


def test_throttling_is_retried_within_the_commit_with_growing_delays(shipper, logs, config_file):
    client = FlakyClient(logs, [client_error("ThrottlingException"), client_error("ThrottlingException")])
    clock = FakeClock()
    _, answers = run_protocol(shipper, config_file, transaction(record("cron", "job")), client, clock)
    assert answers[-1] == "OK"
    assert len(client.puts) == 3
    assert len(clock.sleeps) == 2
    assert clock.sleeps[1] > clock.sleeps[0]
    assert len(stored(logs, "system")) == 1


def test_end_of_input_inside_a_transaction_ships_nothing(shipper, logs, config_file):
    lines = ["BEGIN TRANSACTION", record("sshd", marker("lost"))]  # rsyslog stopped before COMMIT
    status, answers = run_protocol(shipper, config_file, lines, logs)
    assert status == 0
    assert answers == ["OK", "OK", "DEFER_COMMIT"]
    assert stored(logs, "system") == []


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (record("django-app", '{"level": "INFO", "logger": "django.request", "message": "m"}'), "app"),
        (record("gunicorn", '{"level": "INFO", "logger": "soc2kit.health.views", "message": "m"}'), "app"),
        (record("django-app", '{"level": "INFO", "logger": "soc2kit.audit", "message": "m"}'), "audit"),
        (record("gunicorn", '{"level": "INFO", "logger": "soc2kit.audit.chain", "message": "m"}'), "audit"),
        (record("django-app", '{"level": "WARNING", "logger": "soc2kit.alerts", "message": "m"}'), "audit"),
        (record("django-app", '{"level": "INFO", "logger": "soc2kit.auditing", "message": "m"}'), "app"),
        (record("auditd", "type=USER_AUTH msg=audit(1.0:1): res=success"), "audit"),
        (record("nginx-access", '{"remote_addr": "127.0.0.1", "status": 200}'), "web"),
        (record("nginx-error", "2026/11/29 17:00:00 [error] 1#1: upstream timed out"), "web"),
        (record("apache-access", '{"remote_addr": "127.0.0.1", "status": 200}'), "web"),
        (record("apache-error", "[core:error] AH00037"), "web"),
        (record("sshd", "Accepted publickey for admin", facility="auth", severity="info"), "system"),
        (record("sudo", "admin : COMMAND=/bin/true", facility="authpriv", severity="notice"), "system"),
        (record("kernel", "nf_tables: loaded"), "system"),
        (record("soc2kit-probe", "anything else"), "system"),
    ],
)
def test_messages_are_routed_to_their_log_group(shipper, logs, config_file, line, kind):
    _, answers = run_protocol(shipper, config_file, transaction(line), logs)
    assert answers[-1] == "OK"
    for other in GROUPS:
        assert len(stored(logs, other)) == (1 if other == kind else 0), other


def test_json_lines_stay_json_and_syslog_lines_keep_facility_severity_and_tag(shipper, logs, config_file):
    app_json = '{"level": "INFO", "logger": "django.request", "message": "m"}'
    lines = transaction(
        record("django-app", app_json),
        record("sudo", " admin : COMMAND=/bin/true", facility="authpriv", severity="notice"),
    )
    run_protocol(shipper, config_file, lines, logs)
    assert json.loads(stored(logs, "app")[0]) == json.loads(app_json)
    assert stored(logs, "system") == ["authpriv.notice sudo[42]: admin : COMMAND=/bin/true"]


def test_events_are_sent_sorted_by_time(shipper, logs, config_file):
    client = FlakyClient(logs, [])
    lines = transaction(
        record("cron", "third", time=hours_ago(1)),
        record("cron", "first", time=hours_ago(1.002)),
        record("cron", "second", time=hours_ago(1.001)),
    )
    run_protocol(shipper, config_file, lines, client)
    (put,) = client.puts
    times = [event["timestamp"] for event in put["logEvents"]]
    assert times == sorted(times)
    assert [m.rsplit(" ", 1)[-1] for m in stored(logs, "system")] == ["first", "second", "third"]


def _put_sizes(put: dict[str, Any]) -> int:
    return sum(len(e["message"].encode()) + 26 for e in put["logEvents"])


def test_more_than_10000_events_are_split_into_calls_within_the_limit(shipper, logs, config_file):
    client = FlakyClient(logs, [])
    lines = transaction(*(record("cron", f"event {i}") for i in range(10_050)))
    _, answers = run_protocol(shipper, config_file, lines, client)
    assert answers[-1] == "OK"
    assert [len(p["logEvents"]) for p in client.puts] == [10_000, 50]
    assert len(stored(logs, "system")) == 10_050


def test_more_than_1_mib_is_split_and_an_oversized_message_truncated(shipper, logs, config_file):
    client = FlakyClient(logs, [])
    big = "x" * 200_000
    huge = "y" * 400_000  # above the 256 KiB event limit
    lines = transaction(*(record("cron", f"{i} {big}") for i in range(7)), record("cron", huge))
    _, answers = run_protocol(shipper, config_file, lines, client)
    assert answers[-1] == "OK"
    assert len(client.puts) >= 2
    assert all(_put_sizes(p) <= 1_048_576 for p in client.puts)
    assert sum(len(p["logEvents"]) for p in client.puts) == 8
    (truncated,) = [e for p in client.puts for e in p["logEvents"] if "yyy" in e["message"]]
    assert len(truncated["message"].encode()) + 26 <= 262_144
    assert truncated["message"].endswith("[truncated by soc2kit-log-shipper]")


def test_a_batch_spanning_more_than_24_hours_is_split(shipper, logs, config_file):
    client = FlakyClient(logs, [])
    lines = transaction(
        record("cron", "day one", time=hours_ago(3 * 24)),
        record("cron", "day two", time=hours_ago(2 * 24 - 1)),
    )
    _, answers = run_protocol(shipper, config_file, lines, client)
    assert answers[-1] == "OK"
    assert [len(p["logEvents"]) for p in client.puts] == [1, 1]


def test_times_cloudwatch_would_reject_are_clamped(shipper):
    now = 1_800_000_000_000
    routes = shipper.DEFAULT_ROUTES
    old = shipper.to_event(record("cron", "old", time="2000-01-01T00:00:00+00:00"), routes, now)
    ahead = shipper.to_event(record("cron", "ahead", time="2100-01-01T00:00:00+00:00"), routes, now)
    assert now - 14 * 24 * 3600 * 1000 < old.timestamp <= now
    assert now <= ahead.timestamp < now + 2 * 3600 * 1000


def test_a_line_outside_a_transaction_is_shipped_and_confirmed_on_its_own(shipper, logs, config_file):
    _, answers = run_protocol(shipper, config_file, [record("cron", "single")], logs)
    assert answers == ["OK", "OK"]
    assert len(stored(logs, "system")) == 1


def test_bad_configuration_is_refused_before_any_message(shipper, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"region": REGION, "log_stream": STREAM, "log_groups": {"app": "/a"}}))
    status, answers = run_protocol(shipper, path, transaction(record("cron", "x")), client=object())
    assert status == 1
    assert answers == ["ERROR configuration: " + f"{path}: log_groups lacks web, audit, system"]


def test_runs_as_rsyslog_starts_it_against_a_moto_server(tmp_path):
    """The installed form: a separate process, boto3's own client, an endpoint URL from the config."""
    import boto3

    with fake_aws.moto_server() as endpoint:
        client = boto3.client("logs", region_name=REGION, endpoint_url=endpoint)
        for name in GROUPS.values():
            client.create_log_group(logGroupName=name)
        config = tmp_path / "config.json"
        config.write_text(
            json.dumps(
                {
                    "region": REGION,
                    "endpoint_url": endpoint,
                    "log_groups": GROUPS,
                    "log_stream": STREAM,
                    "environment": {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
                }
            )
        )
        probe = marker("web")
        lines = transaction(record("nginx-access", json.dumps({"request": f"GET /{probe}"})))
        result = subprocess.run(
            [sys.executable, str(SHIPPER), "--config", str(config)],
            input="".join(line + "\n" for line in lines),
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": os.environ.get("PATH", ""), "AWS_EC2_METADATA_DISABLED": "true"},
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == ["OK", "OK", "DEFER_COMMIT", "OK"], result.stderr
        events = client.get_log_events(logGroupName=GROUPS["web"], logStreamName=STREAM)["events"]
        assert [probe in e["message"] for e in events] == [True]


def test_lock_installs_boto3_with_every_package_hash_pinned():
    lock = Path(SHIPPER).with_name("requirements-shipper.txt").read_text()
    pins = [line for line in lock.splitlines() if line and not line[0].isspace() and not line.startswith("#")]
    assert any(line.startswith("boto3==") for line in pins)
    for line in pins:
        assert "==" in line, line
        assert line.endswith("\\"), f"{line}: no hash follows"
    assert "--index-url" not in lock
    assert "--find-links" not in lock
