"""Hosts: Debian 12 AMI lookup, IMDSv2, encrypted root volume, monitoring, exact role permissions."""

from __future__ import annotations

import json
from typing import Any

from tests.harness import StackRun, key_arn, run_program, stack_config

INSTANCE = "aws:ec2/instance:Instance"


def host_policy(run: StackRun) -> dict[str, dict[str, Any]]:
    document = json.loads(run.one("aws:iam/rolePolicy:RolePolicy", "hosts-least-privilege").inputs["policy"])
    return {s["Sid"]: s for s in document["Statement"]}


def test_host_count_from_config(dev: StackRun, prod: StackRun) -> None:
    assert len(dev.of_type(INSTANCE)) == 1
    assert len(prod.of_type(INSTANCE)) == 2


def test_debian_12_ami_looked_up_from_debian_account(dev: StackRun) -> None:
    (query,) = dev.ami_queries
    assert query["owners"] == ["136693071363"]
    assert {"name": "name", "values": ["debian-12-amd64-*"]} in query["filters"]
    assert query["mostRecent"] is True
    assert {h.inputs["ami"] for h in dev.of_type(INSTANCE)} == {"ami-0debian12"}


def test_graviton_instance_type_gets_arm64_ami() -> None:
    run = run_program(stack_config("dev") | {"soc2kit:host_instance_type": "t4g.small"}, stack="arm")
    assert {"name": "name", "values": ["debian-12-arm64-*"]} in run.ami_queries[0]["filters"]


def test_imdsv2_required(prod: StackRun) -> None:
    for host in prod.of_type(INSTANCE):
        assert host.inputs["metadataOptions"]["httpTokens"] == "required"
        assert host.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1


def test_root_volume_encrypted_with_volumes_cmk(prod: StackRun) -> None:
    for host in prod.of_type(INSTANCE):
        root = host.inputs["rootBlockDevice"]
        assert root["encrypted"] is True
        assert root["kmsKeyId"] == key_arn("volumes")


def test_detailed_monitoring_enabled(prod: StackRun) -> None:
    assert {h.inputs["monitoring"] for h in prod.of_type(INSTANCE)} == {True}


def test_no_automatic_public_ip_each_host_gets_an_elastic_ip(prod: StackRun) -> None:
    hosts = prod.of_type(INSTANCE)
    assert {h.inputs.get("associatePublicIpAddress") for h in hosts} == {False}
    eips = prod.of_type("aws:ec2/eip:Eip")
    assert sorted(e.inputs["instance"] for e in eips) == sorted(h.id for h in hosts)


def test_hosts_use_instance_profile_and_hosts_security_group(prod: StackRun) -> None:
    for host in prod.of_type(INSTANCE):
        assert host.inputs["iamInstanceProfile"] == "soc2kit-prod-app-host"
        assert host.inputs["vpcSecurityGroupIds"] == ["network-hosts-sg-id"]


def test_hosts_spread_over_public_subnets_in_different_zones(prod: StackRun) -> None:
    assert sorted(h.inputs["subnetId"] for h in prod.of_type(INSTANCE)) == [
        "network-public-0-id",
        "network-public-1-id",
    ]


def test_role_reads_exactly_this_stacks_secrets_but_the_owners_login(dev: StackRun) -> None:
    statement = host_policy(dev)["ReadThisStacksSecrets"]
    arns = dev.exports["secret_arns"]
    assert sorted(statement["Resource"]) == sorted(v for k, v in arns.items() if k != "db_owner_credentials")
    assert arns["db_owner_credentials"] not in statement["Resource"]
    assert statement["Action"] == ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]


def test_role_decrypts_secrets_key_only_via_secrets_manager(dev: StackRun) -> None:
    statement = host_policy(dev)["DecryptSecretsViaSecretsManager"]
    assert statement["Resource"] == dev.exports["kms_key_arns"]["secrets"]
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    }


def test_role_uses_field_key_only_with_app_context(dev: StackRun) -> None:
    statement = host_policy(dev)["FieldEncryptionWithAppContext"]
    assert statement["Resource"] == dev.exports["kms_key_arns"]["field_encryption"]
    assert statement["Condition"] == {"StringEquals": {"kms:EncryptionContext:app": "soc2kit"}}


def test_role_writes_exactly_the_four_host_log_groups(dev: StackRun) -> None:
    resources = host_policy(dev)["WriteThisStacksLogGroups"]["Resource"]
    groups = [
        f"arn:aws:logs:eu-west-1:111122223333:log-group:{n}" for n in dev.exports["log_group_names"].values()
    ]
    assert sorted(resources) == sorted(groups + [g + ":log-stream:*" for g in groups])


def test_role_has_no_wildcard_resource_except_conditioned_metrics(dev: StackRun, prod: StackRun) -> None:
    for sid, statement in host_policy(dev).items():
        if statement["Resource"] == "*":
            assert sid == "AgentMetricsOnly"
            assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "CWAgent"}}


def test_role_uses_ssm_managed_policy(dev: StackRun) -> None:
    attachment = dev.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "identity-ssm-core").inputs
    assert attachment["policyArn"] == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    assert attachment["role"] == "soc2kit-dev-app-host"


def test_single_host_role_cannot_touch_route53(dev: StackRun) -> None:
    assert not [s for s in host_policy(dev).values() if "route53" in json.dumps(s["Action"])]


def test_multi_host_role_changes_only_acme_txt_records_in_configured_zone(prod: StackRun) -> None:
    statement = host_policy(prod)["AcmeChallengeRecordsOnly"]
    assert statement["Action"] == "route53:ChangeResourceRecordSets"
    assert statement["Resource"] == "arn:aws:route53:::hostedzone/Z0000000000000EXAMPLE"
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["_acme-challenge.*"]
        },
        "ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]},
    }
