"""The log collector stopped for 60 s under steady log traffic: the log_shipping role's own fault test
(molecule/tests/test_log_shipping_outage.py), run here against the running local stack.

That test is written for testinfra with an Ansible inventory; this one writes a minimal inventory of
the scenario's containers (reached with podman exec) and runs it in a child pytest, so there is one
implementation of the check. Its figures (sent, received, duplicates, missing, drain time) are kept.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml
from kit.local import molecule_env

from .ops import container_or_fail

ROOT = Path(__file__).resolve().parents[2]
OUTAGE_TEST = ROOT / "molecule" / "tests" / "test_log_shipping_outage.py"


def test_collector_outage_of_60s_loses_no_message(stack, figures, tmp_path):
    assert OUTAGE_TEST.is_file(), f"{OUTAGE_TEST} is missing (the log_shipping role's outage test)"
    collector = container_or_fail(stack, "log_collectors")
    inventory = tmp_path / "inventory.yml"
    host = {"ansible_connection": "containers.podman.podman"}
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "app_hosts": {"hosts": {stack.app: host}},
                        "log_collectors": {"hosts": {collector: host}},
                    }
                }
            }
        ),
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(OUTAGE_TEST), "-p", "no:cacheprovider", "-q", "-s",
         f"--ansible-inventory={inventory}", f"--rootdir={OUTAGE_TEST.parent}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, **molecule_env()},
        cwd=ROOT,
    )  # fmt: skip
    output = result.stdout + result.stderr
    reported = re.search(r"log collector outage: (\{.*\})", output)
    figures.update(log_shipping_test=reported.group(1) if reported else "no figures printed")
    assert result.returncode == 0, f"{OUTAGE_TEST.name} failed:\n{output[-3000:]}"
