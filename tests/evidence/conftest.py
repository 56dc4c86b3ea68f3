"""Shared helpers of the evidence tests: the recorded collector lines, a period, a gathered period."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"

from kit.evidence import bundle, daily  # noqa: E402
from kit.evidence.period import Period  # noqa: E402
from kit.verify.provenance import Provenance  # noqa: E402

PERIOD = Period(date(2026, 11, 1), date(2026, 11, 4))
NOW = datetime(2026, 11, 5, 8, 0, 0, tzinfo=UTC)
WHO = Provenance("alice", "build-1", "none (ENV=local uses no AWS account)", "a" * 40, [])


def collector_lines() -> list[str]:
    return (FIXTURES / "collector-soc2kit-checks.log").read_text(encoding="utf-8").splitlines()


@pytest.fixture
def gathered() -> bundle.Gathered:
    return bundle.Gathered(
        env="local",
        period=PERIOD,
        daily=daily.parse_lines(collector_lines()),
        verify_reports=[],
        commits=[],
        converges=[],
        provenance=WHO,
        started=NOW,
        sources={"Daily results": "fixture"},
    )


@pytest.fixture
def aws(monkeypatch):
    """moto in this process, with its test credentials and no profile or instance metadata."""
    from moto import mock_aws

    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with mock_aws():
        yield
