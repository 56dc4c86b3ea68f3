"""Hosts: pinned AMI, SSM agent at boot, IMDSv2, encrypted root volume, monitoring, exact permissions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from components.ssm_agent import render_user_data

from tests.harness import StackRun, key_arn, run_program, stack_config

INSTANCE = "aws:ec2/instance:Instance"


def host_policy(run: StackRun) -> dict[str, dict[str, Any]]:
    document = json.loads(run.one("aws:iam/rolePolicy:RolePolicy", "hosts-least-privilege").inputs["policy"])
    return {s["Sid"]: s for s in document["Statement"]}


def test_host_count_from_config(dev: StackRun, prod: StackRun) -> None:
    assert len(dev.of_type(INSTANCE)) == 1
    assert len(prod.of_type(INSTANCE)) == 2


def test_ami_is_the_pinned_one_from_config(dev: StackRun, prod: StackRun) -> None:
    """No lookup (the mocks refuse any invoke they do not know, getAmi included): a new Debian
    release cannot replace the hosts; only a changed ami_id does."""
    assert {h.inputs["ami"] for h in dev.of_type(INSTANCE)} == {"ami-0a4c3e5f9b2d71e86"}
    assert {h.inputs["ami"] for h in prod.of_type(INSTANCE)} == {"ami-0a4c3e5f9b2d71e86"}
    assert dev.exports["ami_id"] == "ami-0a4c3e5f9b2d71e86"


def test_changing_ami_id_is_what_changes_the_hosts_ami() -> None:
    run = run_program(stack_config("dev") | {"soc2kit:ami_id": "ami-0123abcd"}, stack="newami")
    assert {h.inputs["ami"] for h in run.of_type(INSTANCE)} == {"ami-0123abcd"}


def test_every_host_boots_with_the_ssm_agent_installer(dev: StackRun, prod: StackRun) -> None:
    """The script itself is tested in test_user_data.py; here: every host gets it, for its region
    and architecture, pinned to AWS's key."""
    for run in (dev, prod):
        for host in run.of_type(INSTANCE):
            user_data = host.inputs["userData"]
            assert user_data == render_user_data("eu-west-1", "amd64")
            assert user_data.startswith("#!/bin/bash\n")
            assert (
                "package_dir=https://s3.eu-west-1.amazonaws.com/amazon-ssm-eu-west-1/latest/debian_amd64\n"
                in user_data
            )
            assert "fingerprint=DE92C7DA3E56E92331D62A36BC1F495C97DD04ED\n" in user_data


def test_graviton_instance_type_gets_the_arm64_agent() -> None:
    run = run_program(stack_config("dev") | {"soc2kit:host_instance_type": "t4g.small"}, stack="arm")
    (host,) = run.of_type(INSTANCE)
    assert "/amazon-ssm-eu-west-1/latest/debian_arm64" in host.inputs["userData"]
    assert "debian_amd64" not in host.inputs["userData"]


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


def test_single_host_gets_an_elastic_ip_and_no_automatic_public_ip(dev: StackRun) -> None:
    (host,) = dev.of_type(INSTANCE)
    assert host.inputs.get("associatePublicIpAddress") is False
    (eip,) = dev.of_type("aws:ec2/eip:Eip")
    assert eip.inputs["instance"] == host.id
    assert dev.exports["app_host_public_ips"] == ["198.51.100.11"]


def test_hosts_behind_the_load_balancer_have_no_public_ip_at_all(prod: StackRun) -> None:
    """FSBP EC2.9: the NLB is the only way in from the internet."""
    hosts = prod.of_type(INSTANCE)
    assert {h.inputs.get("associatePublicIpAddress") for h in hosts} == {False}
    assert [e.name for e in prod.of_type("aws:ec2/eip:Eip")] == ["network-nat-ip"]  # the NAT's only
    assert "app_host_public_ips" not in prod.exports


def test_hosts_use_instance_profile_and_hosts_security_group(prod: StackRun) -> None:
    for host in prod.of_type(INSTANCE):
        assert host.inputs["iamInstanceProfile"] == "soc2kit-prod-app-host"
        assert host.inputs["vpcSecurityGroupIds"] == ["network-hosts-sg-id"]


def test_hosts_behind_the_load_balancer_spread_over_private_app_subnets(prod: StackRun) -> None:
    assert sorted(h.inputs["subnetId"] for h in prod.of_type(INSTANCE)) == [
        "network-app-0-id",
        "network-app-1-id",
    ]


def test_single_host_sits_in_a_public_subnet(dev: StackRun) -> None:
    assert [h.inputs["subnetId"] for h in dev.of_type(INSTANCE)] == ["network-public-0-id"]


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
        f"arn:aws:logs:eu-west-1:123456789012:log-group:{n}" for n in dev.exports["log_group_names"].values()
    ]
    assert sorted(resources) == sorted(groups + [g + ":log-stream:*" for g in groups])


# Every statement of the stack's IAM policies that names Resource "*", and why it must: the action
# has no resource-level permissions. A new wildcard fails the test until it is explained here.
ALLOWED_WILDCARDS = {
    ("hosts-least-privilege", "AgentMetricsOnly"): (
        "cloudwatch:PutMetricData has no resource types; the condition limits it to the CWAgent namespace"
    ),
    ("hosts-least-privilege", "AcmeFindZoneAndWait"): (
        "route53:ListHostedZones and route53:GetChange have no resource types (multi-host only: DNS-01)"
    ),
    ("identity-ssm-agent", "SessionManagerChannels"): "ssmmessages actions have no resource types",
    ("identity-ssm-agent", "SsmAgentMessages"): "ec2messages actions have no resource types",
}
SINGLE_HOST_WILDCARDS = {
    ("hosts-least-privilege", "AgentMetricsOnly"),
    ("identity-ssm-agent", "SessionManagerChannels"),
    ("identity-ssm-agent", "SsmAgentMessages"),
}
WILDCARDS_PER_STACK = {
    "dev": SINGLE_HOST_WILDCARDS,
    "staging": SINGLE_HOST_WILDCARDS,
    "dev_with_ssh": SINGLE_HOST_WILDCARDS,
    "prod": set(ALLOWED_WILDCARDS),  # multi-host: DNS-01 adds the Route53 one
}


@pytest.mark.parametrize("stack", sorted(WILDCARDS_PER_STACK))
def test_no_wildcard_resource_but_the_explained_ones(stack: str, request: pytest.FixtureRequest) -> None:
    run: StackRun = request.getfixturevalue(stack)
    policies = run.of_type("aws:iam/rolePolicy:RolePolicy")
    assert {p.name for p in policies} >= {
        "hosts-least-privilege",
        "identity-ssm-agent",
        "network-flow-logs-write",
    }
    wildcards = set()
    for policy in policies:
        for statement in json.loads(policy.inputs["policy"])["Statement"]:
            assert "NotResource" not in statement
            assert "NotAction" not in statement
            resources = statement["Resource"]
            if "*" in (resources if isinstance(resources, list) else [resources]):
                wildcards.add((policy.name, statement["Sid"]))
    assert wildcards == WILDCARDS_PER_STACK[stack]
    assert wildcards <= set(ALLOWED_WILDCARDS)


def test_metrics_wildcard_is_conditioned_on_the_agent_namespace(dev: StackRun) -> None:
    statement = host_policy(dev)["AgentMetricsOnly"]
    assert statement["Action"] == "cloudwatch:PutMetricData"
    assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "CWAgent"}}


# What the SSM agent needs for Session Manager, written out. AmazonSSMManagedInstanceCore also grants
# ssm:GetParameter* on every parameter of the account.
SSM_AGENT_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "SsmAgentRegistersThisInstance",
            "Effect": "Allow",
            "Action": ["ssm:UpdateInstanceInformation", "ssm:ListInstanceAssociations"],
            "Resource": "arn:aws:ec2:eu-west-1:123456789012:instance/*",
        },
        {
            "Sid": "SessionManagerChannels",
            "Effect": "Allow",
            "Action": [
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel",
            ],
            "Resource": "*",
        },
        {
            "Sid": "SsmAgentMessages",
            "Effect": "Allow",
            "Action": [
                "ec2messages:AcknowledgeMessage",
                "ec2messages:DeleteMessage",
                "ec2messages:FailMessage",
                "ec2messages:GetEndpoint",
                "ec2messages:GetMessages",
                "ec2messages:SendReply",
            ],
            "Resource": "*",
        },
    ],
}


def test_ssm_permissions_are_a_scoped_inline_policy_not_the_managed_one(dev: StackRun) -> None:
    attachments = dev.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert [a.inputs["role"] for a in attachments] == ["soc2kit-dev-rds-monitoring"]  # none on the hosts
    policy = dev.one("aws:iam/rolePolicy:RolePolicy", "identity-ssm-agent").inputs
    assert policy["role"] == "identity-role-id"
    assert json.loads(policy["policy"]) == SSM_AGENT_POLICY


def test_host_role_trusts_only_ec2_of_this_account(dev: StackRun) -> None:
    role = dev.one("aws:iam/role:Role", "identity-role").inputs
    assert role["name"] == "soc2kit-dev-app-host"
    assert json.loads(role["assumeRolePolicy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
            }
        ],
    }


def test_hosts_may_publish_only_to_the_alerts_topic(dev: StackRun) -> None:
    statements = host_policy(dev)
    assert statements["PublishSecurityAlerts"] == {
        "Sid": "PublishSecurityAlerts",
        "Effect": "Allow",
        "Action": "sns:Publish",
        "Resource": dev.exports["alerts_topic_arn"],
    }
    assert statements["EncryptAlertsViaSns"]["Resource"] == key_arn("alerts")
    assert statements["EncryptAlertsViaSns"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "sns.eu-west-1.amazonaws.com"}
    }
    publishing = [sid for sid, s in statements.items() if "sns:" in json.dumps(s["Action"])]
    assert publishing == ["PublishSecurityAlerts"]


def test_single_host_role_cannot_touch_route53(dev: StackRun) -> None:
    assert not [s for s in host_policy(dev).values() if "route53" in json.dumps(s["Action"])]


def test_multi_host_role_changes_only_acme_txt_records_in_configured_zone(prod: StackRun) -> None:
    statement = host_policy(prod)["AcmeChallengeRecordsOnly"]
    assert statement["Action"] == "route53:ChangeResourceRecordSets"
    assert statement["Resource"] == "arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ"
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["_acme-challenge.*"]
        },
        "ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]},
    }
