"""Operations on the running stack shared by the fault tests: waiting, unit state, SQL as superuser."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
from kit import KitError
from kit.running_stack import RunningStack


def container_or_fail(stack: RunningStack, group: str) -> str:
    try:
        return stack.container(group)
    except KitError as error:
        pytest.fail(
            f"{error.what}: this fault test needs that host in the scenario ({error.fix})", pytrace=False
        )


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Polls until condition() is truthy; returns its value or raises AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def unit_state(stack: RunningStack, container: str, unit: str) -> dict[str, str]:
    """ActiveState, SubState, MainPID and NRestarts of a systemd unit in a container."""
    result = stack.exec(
        container,
        ["systemctl", "show", "--property=ActiveState,SubState,MainPID,NRestarts", unit],
        check=False,
    )
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def psql(
    stack: RunningStack, database: str, sql: str, *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """SQL as the PostgreSQL superuser in the db container (SQL on stdin, unaligned tuples out)."""
    db = container_or_fail(stack, "db_hosts")
    return stack.exec(
        db,
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            database,
        ],
        stdin=sql,
        check=check,
    )
