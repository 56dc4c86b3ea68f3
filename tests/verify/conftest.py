"""Shared helpers of the verify tests: recorded tool outputs (fixtures/), fake hosts, a context."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# A day on which the shipped exceptions (scripts/kit/verify/exceptions.yml) were in force.
SHIPPED_EXCEPTIONS_REVIEWED_ON = date(2026, 12, 3)

from kit.verify import thresholds  # noqa: E402
from kit.verify.context import Context, Site  # noqa: E402
from kit.verify.hosts import Completed  # noqa: E402


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


class FakeHosts:
    """Answers each command with the first (pattern -> (exit status, output)) whose pattern it contains."""

    def __init__(self, answers: dict[str, tuple[int, str]], names: tuple[str, ...] = ("app",)) -> None:
        self.names = list(names)
        self.answers = answers
        self.commands: list[tuple[str, str]] = []

    def run(self, host: str, script: str, *, stdin: str | None = None) -> Completed:
        self.commands.append((host, script))
        for pattern, (code, output) in self.answers.items():
            if pattern in script:
                return Completed(host, code, output, "")
        raise AssertionError(f"unexpected command on {host}: {script}")


@pytest.fixture
def limits() -> thresholds.Thresholds:
    # The shipped exceptions as of a fixed day: tests must not start failing when the real date passes an
    # expiry (an expired exception failing `make verify` is tested on its own, with dates of its own).
    return thresholds.load(thresholds.DEFAULT_FILE, today=SHIPPED_EXCEPTIONS_REVIEWED_ON)


@pytest.fixture
def make_context(tmp_path: Path, limits: thresholds.Thresholds) -> Callable[..., Context]:
    def build(hosts: FakeHosts | None = None, env: str = "local", **kwargs: object) -> Context:
        site = Site("app.soc2kit.test", 8443, 8080, "127.0.0.1", None)
        return Context(env, "nginx", site, hosts or FakeHosts({}), limits, tmp_path, **kwargs)  # type: ignore[arg-type]

    return build
