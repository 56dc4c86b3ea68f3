"""The testinfra checks that change a stack (marked disruptive), which no live check runs, against the
rehearsal's two app hosts behind the balancer (needs `make deploy ENV=rehearsal`; runs before the rolling
test). In `make test` the rehearsal runs Apache, so this is where Apache meets the personal-data search:
canary values sent through the balancer must reach no log on either app host and no CloudWatch Logs event.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from kit import aws, rehearsal

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "molecule" / "tests"
# Each module with the number of tests it must run here (none deselected or skipped).
MODULES = {"test_no_personal_data_in_logs.py": 3}


def test_disruptive_checks_pass_on_both_app_hosts_and_in_cloudwatch() -> None:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-rfEs",
        "--hosts=ansible://app_hosts",
        f"--ansible-inventory={aws.inventory_dir(rehearsal.ENV)}",
        *[str(SUITE / module) for module in MODULES],
    ]
    # The controller's AWS calls (the CloudWatch search) go to the rehearsal's moto, as Ansible's do.
    env = {**os.environ, **aws.ansible_env(rehearsal.ENV), "PYTEST_ADDOPTS": ""}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200, check=False)
    print(result.stdout[-6000:], result.stderr[-3000:])
    assert result.returncode == 0
    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(rf"\b{sum(MODULES.values())} passed\b", summary), summary
    assert not re.search(r"skipped|deselected|xfail", summary), summary
