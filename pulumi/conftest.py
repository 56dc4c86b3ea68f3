"""Shared fixtures: the real program run under mocks once per stack, reused by program and policy tests.

Pulumi runs __main__.py with this directory on sys.path; pytest.ini's pythonpath does the same for the
tests, plus the policy pack's directory so its rules module imports without starting the policy server.
"""

from __future__ import annotations

import pytest
from tests.harness import StackRun, run_program, stack_config


@pytest.fixture(scope="session")
def dev() -> StackRun:
    """The dev stack exactly as Pulumi.dev.yaml configures it (one host, SSM only)."""
    return run_program(stack_config("dev"), stack="dev")


@pytest.fixture(scope="session")
def staging() -> StackRun:
    return run_program(stack_config("staging"), stack="staging")


@pytest.fixture(scope="session")
def prod() -> StackRun:
    """The prod stack as Pulumi.prod.yaml configures it, with a real zone id for its placeholder
    (two hosts behind the NLB)."""
    return run_program(stack_config("prod"), stack="prod")


@pytest.fixture(scope="session")
def dev_with_ssh() -> StackRun:
    """dev plus SSH (admin CIDR and key pair) and an extra secret reader, to prove those paths."""
    config = stack_config("dev") | {
        "soc2kit:ssh_admin_cidr": "203.0.113.0/24",
        "soc2kit:ssh_key_name": "ops-admin",
        "soc2kit:secret_reader_arns": '["arn:aws:iam::123456789012:role/Auditor"]',
    }
    return run_program(config, stack="devssh")


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped check is not a passed check: fail the run if anything was skipped or xfailed."""
    if _skipped and exitstatus == 0:
        print(f"\nFAILED: {len(_skipped)} test(s) skipped, e.g. {_skipped[0]}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
