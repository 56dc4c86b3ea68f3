"""Outputs: what the Ansible inventory reads, and never a secret value."""

from __future__ import annotations

import json

from tests.harness import StackRun, instance_id

INVENTORY_OUTPUTS = {
    "region",
    "ami_id",
    "alerts_topic_arn",
    "app_host_ids",
    "app_host_private_ips",
    "db_endpoint",
    "db_port",
    "db_name",
    "secret_arns",
    "kms_key_arns",
    "log_group_names",
}


def test_outputs_the_inventory_reads(dev: StackRun, prod: StackRun) -> None:
    assert set(dev.exports) >= INVENTORY_OUTPUTS | {"app_host_public_ips"}
    assert INVENTORY_OUTPUTS | {"nlb_dns_name", "acme_route53_zone_id"} <= set(prod.exports)
    assert "app_host_public_ips" not in prod.exports  # behind the load balancer: none
    assert prod.exports["ami_id"] == "ami-0a4c3e5f9b2d71e86"
    assert prod.exports["alerts_topic_arn"] == "arn:aws:sns:eu-west-1:123456789012:alerts-topic"
    assert set(prod.exports["secret_arns"]) == {
        "django_secret_key",
        "field_encryption_blind_index_key",
        "db_app_credentials",
        "db_owner_credentials",
    }
    assert set(prod.exports["log_group_names"]) == {"app", "web", "audit", "system"}
    assert prod.exports["app_host_ids"] == [instance_id("hosts-app-1"), instance_id("hosts-app-2")]
    assert prod.exports["db_port"] == 5433


def test_no_generated_secret_value_in_outputs(dev: StackRun, prod: StackRun) -> None:
    for run in (dev, prod):
        exported = json.dumps(run.exports)
        assert "generated-" not in exported  # the mocks' random values
        assert "Z2VuZXJhdGVk" not in exported


def test_outputs_hold_only_arns_names_ids_and_addresses(prod: StackRun) -> None:
    for arn in [*prod.exports["secret_arns"].values(), *prod.exports["kms_key_arns"].values()]:
        assert arn.startswith("arn:aws:")
