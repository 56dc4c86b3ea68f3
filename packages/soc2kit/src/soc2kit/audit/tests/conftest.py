"""Every audit test gets its own checkpoint store: a file under the test's temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def checkpoint_file(settings, tmp_path: Path) -> Path:
    path = tmp_path / "audit-checkpoints.jsonl"
    settings.AUDIT_CHECKPOINTS = {**settings.AUDIT_CHECKPOINTS, "STORE": "file", "FILE": str(path)}
    return path
