"""What Ansible itself makes of an expression for the first app host of an inventory (`ansible -m debug`),
so the tests check rendered variables, not the YAML they are written in."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"


def render(inventory: Path, expression: str, env: dict[str, str], *options: str) -> Any:
    """The value of `expression` (which must end in `| to_json }}`) for app_hosts[0] of `inventory`;
    `options` go to `ansible` as they are (e.g. --playbook-dir, -e)."""
    result = subprocess.run(
        [
            str(VENV_BIN / "ansible"),
            "app_hosts[0]",
            "-i",
            str(inventory),
            *options,
            "-m",
            "ansible.builtin.debug",
            "-a",
            f"msg={expression}",
            "-o",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(json.loads(result.stdout.split(" => ", 1)[1])["msg"])
