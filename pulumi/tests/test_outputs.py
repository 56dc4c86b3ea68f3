"""Outputs: what the Ansible inventory reads, and never a secret value."""

from __future__ import annotations

import json

from tests.harness import StackRun, instance_id

INVENTORY_OUTPUTS = {
    "region",
    "app_host_ids",
    "app_host_private_ips",
    "app_host_public_ips",
    "db_endpoint",
    "db_port",
    "db_name",
    "secret_arns",
    "kms_key_arns",
    "log_group_names",
}


def test_outputs_the_inventory_reads(dev: StackRun, prod: StackRun) -> None:
    assert set(dev.exports) >= INVENTORY_OUTPUTS
    assert INVENTORY_OUTPUTS | {"nlb_dns_name", "acme_route53_zone_id"} <= set(prod.exports)
    assert set(prod.exports["secret_arns"]) == {
        "django_secret_key",
        "field_encryption_blind_index_key",
        "db_app_credentials",
        "db_owner_credentials",
    }
    assert set(prod.exports["log_group_names"]) == {"app", "web", "audit", "system"}
    assert prod.exports["app_host_ids"] == [instance_id("hosts-app-1"), instance_id("hosts-app-2")]
    assert prod.exports["app_host_public_ips"] == ["198.51.100.11", "198.51.100.12"]
    assert prod.exports["db_port"] == 5432


def test_no_generated_secret_value_in_outputs(dev: StackRun, prod: StackRun) -> None:
    for run in (dev, prod):
        exported = json.dumps(run.exports)
        assert "generated-" not in exported  # the mocks' random values
        assert "Z2VuZXJhdGVk" not in exported


def test_outputs_hold_only_arns_names_ids_and_addresses(prod: StackRun) -> None:
    for arn in [*prod.exports["secret_arns"].values(), *prod.exports["kms_key_arns"].values()]:
        assert arn.startswith("arn:aws:")
