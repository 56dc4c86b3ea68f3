"""The log_shipping role's checks (argument spec and validate.yml) on the AWS inventory.

The prod inventory is built from recorded stack outputs (tests/deploy/fixtures), as `make deploy`
builds it, and only the role's checks run (assert and argument validation run on the controller,
no host is contacted): the AWS group vars must pass them, and a bad value must be refused with a
message naming it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

FIXTURE = ROOT / "tests" / "deploy" / "fixtures" / "outputs-good-two-hosts-ssm.json"
PLAYBOOK = """
- name: log_shipping checks on the AWS inventory
  hosts: app_hosts
  gather_facts: false
  tasks:
    - name: The role's argument spec and validate.yml
      ansible.builtin.include_role:
        name: log_shipping
        tasks_from: validate
"""


def validate(tmp_path: Path, **extra) -> subprocess.CompletedProcess[str]:
    from kit.aws import ansible_env

    playbook = tmp_path / "validate.yml"
    playbook.write_text(PLAYBOOK)
    env = {**os.environ, **ansible_env("prod"), "KIT_PULUMI_OUTPUTS_FILE": str(FIXTURE)}
    env["ANSIBLE_NOCOLOR"] = "1"
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        str(ROOT / "ansible" / "inventories" / "prod"),
        str(playbook),
    ]
    if extra:
        command += ["-e", json.dumps(extra)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)


def test_aws_inventory_selects_cloudwatch_with_the_stacks_log_groups_and_passes(tmp_path):
    result = validate(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "CloudWatch region and log groups are given" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"log_shipping_cloudwatch_log_groups": {"app": "/a", "web": "/w"}}, "missing: audit, system"),
        ({"log_shipping_cloudwatch_region": "Europe"}, "log_shipping_cloudwatch_region ('Europe')"),
        (
            {
                "log_shipping_mode": "collector",
                "log_shipping_tls_cert_src": "/pki/logs.crt",
                "log_shipping_tls_key_src": "/pki/logs.key",
                "log_shipping_tls_ca_src": "/pki/ca.crt",
                "log_shipping_permitted_peers": ["app.example.com"],
            },
            "only clients ship to CloudWatch Logs",
        ),
        ({"log_shipping_cloudwatch_log_stream": "a:b"}, "log_shipping_cloudwatch_log_stream ('a:b')"),
        ({"log_shipping_transport": "kinesis"}, "log_shipping_transport"),
    ],
)
def test_bad_cloudwatch_values_are_refused_by_name(tmp_path, overrides, named):
    result = validate(tmp_path, **overrides)
    assert result.returncode != 0
    assert named in result.stdout + result.stderr
