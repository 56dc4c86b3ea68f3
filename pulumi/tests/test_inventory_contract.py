"""The outputs are a contract with the Ansible inventory script (scripts/kit/inventory.py).

Feeding the mocked program's exports to the real inventory builder proves the names and shapes
match; a renamed or reshaped output fails here, not at the first real deploy.
"""

from __future__ import annotations

import importlib
import json
from types import ModuleType

import pytest

from tests.harness import StackRun


@pytest.fixture(scope="module")
def inventory() -> ModuleType:
    # Imported by name: the kit (scripts/, on pytest.ini's pythonpath) is outside the type-checked tree.
    return importlib.import_module("kit.inventory")


def exported(run: StackRun) -> dict[str, object]:
    """The exports as `pulumi stack output --json` prints them (JSON round trip)."""
    outputs: dict[str, object] = json.loads(json.dumps(run.exports))
    return outputs


def test_ssm_stack_outputs_build_an_ssm_inventory(inventory: ModuleType, dev: StackRun) -> None:
    result = inventory.build_inventory(exported(dev), "dev")
    group = result["app_hosts"]
    assert group["vars"]["soc2kit_connection"] == "ssm"
    assert group["hosts"] == ["soc2kit-dev-app-1"]
    host = result["_meta"]["hostvars"]["soc2kit-dev-app-1"]
    assert host["ansible_aws_ssm_bucket_name"] == "soc2kit-dev-ssm-123456789012-eu-west-1"
    assert group["vars"]["soc2kit_secret_arns"] == dev.exports["secret_arns"]


def test_multi_host_outputs_build_an_inventory_with_nlb_and_zone(
    inventory: ModuleType, prod: StackRun
) -> None:
    result = inventory.build_inventory(exported(prod), "prod")
    group_vars = result["app_hosts"]["vars"]
    assert result["app_hosts"]["hosts"] == ["soc2kit-prod-app-1", "soc2kit-prod-app-2"]
    assert group_vars["soc2kit_nlb_dns_name"] == prod.exports["nlb_dns_name"]
    assert group_vars["soc2kit_acme_route53_zone_id"] == "Z0123456789ABCDEFGHIJ"
    assert group_vars["soc2kit_log_group_names"] == prod.exports["log_group_names"]


def test_ssh_stack_outputs_build_an_ssh_inventory(inventory: ModuleType, dev_with_ssh: StackRun) -> None:
    outputs = exported(dev_with_ssh)
    result = inventory.build_inventory(outputs, "dev")
    host = result["_meta"]["hostvars"]["soc2kit-devssh-app-1"]
    assert host["ansible_connection"] == "ssh"
    assert host["ansible_host"] == dev_with_ssh.exports["app_host_public_ips"][0]
