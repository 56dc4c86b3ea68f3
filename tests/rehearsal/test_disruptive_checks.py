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
import time
from pathlib import Path

import yaml
from kit import aws, rehearsal

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "molecule" / "tests"
# Each module with the number of tests it must run here (none deselected or skipped).
MODULES = {"test_no_personal_data_in_logs.py": 3}


def login_window_seconds() -> int:
    """Apache's login rate-limit window (the rehearsal keeps the role's default). The balancer passes TCP
    through without the client's address, so on the app hosts every client is the balancer: the live checks
    just before (test_web_tls uses up the login allowance on purpose) leave none for this session until the
    window has passed. An NLB keeps each client's address: in AWS the clients share no allowance."""
    defaults = yaml.safe_load(
        (ROOT / "roles" / "apache" / "defaults" / "main.yml").read_text(encoding="utf-8")
    )
    return int(defaults["apache_login_window_seconds"])


def test_disruptive_checks_pass_on_both_app_hosts_and_in_cloudwatch() -> None:
    # LIVE_CHECKS=0 (scripts/rehearsal-test.sh): the deploy ran no live check, so no allowance is used up.
    if os.environ.get("LIVE_CHECKS") != "0":
        wait = login_window_seconds() + 5
        print(f"waiting {wait} s for the login allowance the live checks used up")
        time.sleep(wait)
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
