"""The CloudWatch Logs shipper of roles/log_shipping, driven through rsyslog's omprog protocol.

The shipper is loaded from the role's files (what the role installs on the hosts). AWS is moto's
in-process mock, with fake credentials and no instance-metadata lookups: nothing leaves the machine.
"""

from __future__ import annotations

import datetime
import importlib.util
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
SHIPPER = ROOT / "roles" / "log_shipping" / "files" / "soc2kit_log_shipper.py"
REGION = "eu-west-1"
STREAM = "soc2kit-dev-app-1"
GROUPS = {kind: f"/soc2kit/dev/{kind}" for kind in ("app", "web", "audit", "system")}


def load_shipper() -> ModuleType:
    spec = importlib.util.spec_from_file_location("soc2kit_log_shipper", SHIPPER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def shipper() -> ModuleType:
    return load_shipper()


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LOGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def logs() -> Iterator[Any]:
    """moto's CloudWatch Logs with the stack's four host log groups (no stream yet)."""
    with mock_aws():
        client = boto3.client("logs", region_name=REGION)
        for name in GROUPS.values():
            client.create_log_group(logGroupName=name)
        yield client


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {"region": REGION, "log_groups": GROUPS, "log_stream": STREAM, "retry_seconds": 5},
        )
    )
    return path


class FakeClock:
    """Monotonic clock that only moves when the shipper sleeps (backoff without waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def hours_ago(hours: float) -> str:
    """A message time relative to now, as rsyslog writes it. A fixed date fails once it is older than the
    14 days CloudWatch accepts: the shipper then clamps it, and the order and spacing of times are lost."""
    return (datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=hours)).isoformat()


def record(program: str, msg: str, time: str | None = None, **extra: str) -> str:
    """One message as the role's rsyslog template renders it (one JSON object per line); an hour old unless
    `time` says otherwise."""
    fields = {"time": time or hours_ago(1), "program": program, "tag": f"{program}[42]:", "facility": "user"}
    return json.dumps({**fields, "severity": "info", **extra, "msg": msg})


def transaction(*messages: str) -> list[str]:
    return ["BEGIN TRANSACTION", *messages, "COMMIT TRANSACTION"]


def run_protocol(
    shipper: ModuleType, config: Path, lines: list[str], client: Any, clock: FakeClock | None = None
) -> tuple[int, list[str]]:
    """Feeds lines on stdin as rsyslog does; returns the exit status and the answers on stdout."""
    clock = clock or FakeClock()
    stdin = io.StringIO("".join(line + "\n" for line in lines))
    stdout = io.StringIO()
    status = shipper.main(
        ["--config", str(config)], stdin=stdin, stdout=stdout, client=client, sleep=clock.sleep, clock=clock
    )
    return status, stdout.getvalue().splitlines()


def stored(client: Any, kind: str) -> list[str]:
    """Messages in the host's stream of one group, oldest first ([] when the stream does not exist)."""
    messages: list[str] = []
    kwargs: dict[str, Any] = {"logGroupName": GROUPS[kind], "logStreamName": STREAM, "startFromHead": True}
    while True:
        try:
            page = client.get_log_events(**kwargs)
        except client.exceptions.ResourceNotFoundException:
            return []
        messages += [event["message"] for event in page["events"]]
        if not page["events"] or page["nextForwardToken"] == kwargs.get("nextToken"):
            return messages
        kwargs["nextToken"] = page["nextForwardToken"]
