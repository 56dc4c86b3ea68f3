"""Fault tests against the running ENV=local stack (`make faulttest`, issue 7).

Each test breaks one thing on the real containers (podman exec), checks how the stack behaves, and
restores it in a `finally` block, so the stack is valid again afterwards. Traffic goes to loopback only.
When no stack runs, the tests fail with how to start one (never skip).

Environment: SOC2KIT_WEB (nginx|apache, which scenario's stack), FAULTTEST_EVIDENCE_DIR (where the
figures are written as figures.json; make faulttest sets it).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

from kit import KitError  # noqa: E402
from kit.running_stack import RunningStack, connect  # noqa: E402

from .ops import container_or_fail, psql  # noqa: E402

_FIGURES: dict[str, Any] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "quick: finishes in under 2 minutes on the CI machine (candidate for `make test`)"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _FIGURES:
        return
    text = json.dumps(_FIGURES, indent=2, default=str)
    folder = os.environ.get("FAULTTEST_EVIDENCE_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        Path(folder, "figures.json").write_text(text + "\n", encoding="utf-8")
    print("\nfault test figures:\n" + text, file=sys.stderr)


@pytest.fixture(scope="session")
def stack() -> RunningStack:
    web = os.environ.get("SOC2KIT_WEB", "nginx")
    try:
        return connect(web)
    except KitError as error:
        pytest.fail(f"no running local stack to break: {error.what}\nHow to fix: {error.fix}", pytrace=False)


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Figures of this test, written to figures.json and printed at the end of the session."""
    started = time.monotonic()
    entry: dict[str, Any] = {}
    _FIGURES[request.node.name] = entry
    yield entry
    entry["duration_s"] = round(time.monotonic() - started, 1)


@pytest.fixture(scope="session")
def api_users(stack: RunningStack) -> dict[str, dict[str, str]]:
    """An editor and a masked reader with passwords new for this session (see kit.running_stack)."""
    return stack.ensure_api_users("faulttest")


@pytest.fixture(scope="session")
def app_database(stack: RunningStack) -> tuple[str, str]:
    """(database, schema) that hold the app's audit_auditevent table."""
    db = container_or_fail(stack, "db_hosts")
    names = stack.exec(
        db,
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-X",
            "-At",
            "-c",
            "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'",
        ],
    ).stdout.split()
    for name in names:
        schema = psql(
            stack,
            name,
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'audit_auditevent';\n",
        ).stdout.strip()
        if schema:
            return name, schema.splitlines()[0]
    pytest.fail(f"no database in container {db} holds audit_auditevent (databases: {names})", pytrace=False)
