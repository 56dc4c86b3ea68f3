"""The policy pack's rules, run through pulumi-policy's own validate entry points.

1. Every rule passes every resource the mocked program declares, for every shipped stack.
2. Every rule reports its own deliberately bad resource (and only the rule meant to catch it fires
   on the matching good variant).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import soc2_rules
from pulumi_policy import (
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from soc2_rules import RULES, build_policies
from tests.harness import Recorded, StackRun

POLICIES = build_policies()
RESOURCE_POLICIES = {p.name: p for p in POLICIES if isinstance(p, ResourceValidationPolicy)}
STACK_POLICIES = {p.name: p for p in POLICIES if isinstance(p, StackValidationPolicy)}

OPTIONS = PolicyResourceOptions(
    protect=False,
    ignore_changes=[],
    delete_before_replace=None,
    aliases=[],
    custom_timeouts=None,  # type: ignore[arg-type]
    additional_secret_outputs=[],
    parent=None,
)


def _collector(reported: list[str]) -> Callable[[str, str | None], None]:
    def report_violation(message: str, urn: str | None = None) -> None:
        reported.append(message)

    return report_violation


def run_resource_policy(name: str, resource_type: str, props: dict[str, Any]) -> list[str]:
    reported: list[str] = []
    args = ResourceValidationArgs(
        resource_type, props, f"urn:pulumi:test::soc2kit::{resource_type}::r", "r", OPTIONS, None
    )
    RESOURCE_POLICIES[name].validate(args, _collector(reported))
    return reported


def policy_resources(run: StackRun) -> list[PolicyResource]:
    """The recorded resources as the engine hands them to stack policies (outputs include the id)."""
    by_id: dict[str, PolicyResource] = {}
    resources = []
    for recorded in run:
        resource = PolicyResource(
            resource_type=recorded.type,
            props={**recorded.inputs, "id": recorded.id},
            urn=f"urn:pulumi:test::soc2kit::{recorded.type}::{recorded.name}",
            name=recorded.name,
            opts=OPTIONS,
            provider=None,
            parent=None,
            dependencies=[],
            property_dependencies={},
        )
        by_id[recorded.id] = resource
        resources.append(resource)
    for resource in resources:
        for prop, value in resource.props.items():
            if isinstance(value, str) and value in by_id and prop != "id":
                resource.property_dependencies[prop] = [by_id[value]]
    return resources


def run_stack_policy(name: str, resources: list[PolicyResource]) -> list[str]:
    reported: list[str] = []
    STACK_POLICIES[name].validate(StackValidationArgs(resources), _collector(reported))
    return reported


# --- the program passes every rule ------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "dev_with_ssh"])
def test_program_passes_every_resource_rule(stack: str, request: pytest.FixtureRequest) -> None:
    run: StackRun = request.getfixturevalue(stack)
    failures = [
        f"{rule.name} on {recorded.type} {recorded.name}: {message}"
        for recorded in run
        for rule in RULES
        for message in run_resource_policy(rule.name, recorded.type, recorded.inputs)
    ]
    assert failures == []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_program_passes_stack_rules(stack: str, request: pytest.FixtureRequest) -> None:
    run: StackRun = request.getfixturevalue(stack)
    for name in STACK_POLICIES:
        assert run_stack_policy(name, policy_resources(run)) == []


def test_rules_actually_inspect_the_program(prod: StackRun) -> None:
    """Guards the test above against passing vacuously: every rule type the program uses is judged."""
    judged = {rule.name for rule in RULES if any(r.type in rule.resource_types for r in prod)}
    not_used_by_program = {
        "iam-no-user-policies",  # the program creates no IAM users, which is the point
    }
    assert judged | not_used_by_program == {rule.name for rule in RULES}


# --- each rule fails its own bad case ---------------------------------------------------------------

ROLE_TRUST = json.dumps(
    {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
    }
)


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


GOOD_KEY = {
    "enableKeyRotation": True,
    "deletionWindowInDays": 30,
    "policy": policy(
        {
            "Sid": "Admin",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::1:root"},
            "Action": ["kms:Describe*"],
            "Resource": "*",
        }
    ),
}
GOOD_DB = {
    "engine": "postgres",
    "storageEncrypted": True,
    "kmsKeyId": "arn:aws:kms:eu-west-1:1:key/k",
    "publiclyAccessible": False,
    "backupRetentionPeriod": 35,
    "monitoringInterval": 60,
    "iamDatabaseAuthenticationEnabled": True,
    "enabledCloudwatchLogsExports": ["postgresql", "upgrade"],
    "autoMinorVersionUpgrade": True,
    "copyTagsToSnapshot": True,
    "username": "dbadmin",
    "skipFinalSnapshot": False,
    "manageMasterUserPassword": True,
    "performanceInsightsEnabled": True,
    "performanceInsightsKmsKeyId": "arn:aws:kms:eu-west-1:1:key/k",
    "parameterGroupName": "app-postgres17",
    "multiAz": True,
    "deletionProtection": True,
    "tags": {"Environment": "prod"},
}
GOOD_PARAMS: dict[str, Any] = {
    "family": "postgres17",
    "parameters": [
        {"name": n, "value": "1"} for n in ("rds.force_ssl", "log_connections", "log_disconnections")
    ],
}
GOOD_INSTANCE = {
    "ami": "ami-1",
    "instanceType": "t3.small",
    "metadataOptions": {"httpTokens": "required"},
    "rootBlockDevice": {"encrypted": True, "kmsKeyId": "arn:aws:kms:eu-west-1:1:key/v"},
    "monitoring": True,
    "iamInstanceProfile": "profile",
}
GOOD_SECRET = {
    "kmsKeyId": "arn:aws:kms:eu-west-1:1:key/s",
    "recoveryWindowInDays": 30,
    "description": "what it is",
}
GOOD_LOG_GROUP = {"kmsKeyId": "arn:aws:kms:eu-west-1:1:key/l", "retentionInDays": 365}
READ_SECRETS = {
    "Effect": "Allow",
    "Action": "secretsmanager:GetSecretValue",
    "Resource": "arn:aws:secretsmanager:eu-west-1:1:secret:x",
}

# rule name -> (resource type, good props, bad props)
CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "kms-key-rotation-enabled": (soc2_rules.KMS_KEY, GOOD_KEY, {**GOOD_KEY, "enableKeyRotation": False}),
    "kms-key-deletion-window-30-days": (
        soc2_rules.KMS_KEY,
        GOOD_KEY,
        {**GOOD_KEY, "deletionWindowInDays": 7},
    ),
    "kms-key-no-lockout-bypass": (
        soc2_rules.KMS_KEY,
        GOOD_KEY,
        {**GOOD_KEY, "bypassPolicyLockoutSafetyCheck": True},
    ),
    "kms-key-policy-least-privilege": (
        soc2_rules.KMS_KEY,
        GOOD_KEY,
        {
            **GOOD_KEY,
            "policy": policy(
                {
                    "Sid": "Open",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                }
            ),
        },
    ),
    "iam-no-admin-policies": (
        "aws:iam/rolePolicy:RolePolicy",
        {"policy": policy(READ_SECRETS)},
        {"policy": policy({"Effect": "Allow", "Action": "*", "Resource": "*"})},
    ),
    "iam-no-service-wildcard-actions": (
        "aws:iam/policy:Policy",
        {"policy": policy(READ_SECRETS)},
        {"policy": policy({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b"})},
    ),
    "iam-no-decrypt-on-all-keys": (
        "aws:iam/rolePolicy:RolePolicy",
        {
            "policy": policy(
                {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:eu-west-1:1:key/k"}
            )
        },
        {"policy": policy({"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*"})},
    ),
    "iam-no-user-policies": (
        "aws:iam/rolePolicy:RolePolicy",
        {"policy": policy(READ_SECRETS)},
        {"policy": policy(READ_SECRETS), "__type": "aws:iam/userPolicy:UserPolicy"},
    ),
    "iam-role-trust-not-public": (
        soc2_rules.IAM_ROLE,
        {"assumeRolePolicy": ROLE_TRUST},
        {
            "assumeRolePolicy": policy(
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
            )
        },
    ),
    "secretsmanager-secret-cmk": (soc2_rules.SECRET, GOOD_SECRET, {**GOOD_SECRET, "kmsKeyId": None}),
    "secretsmanager-recovery-window": (
        soc2_rules.SECRET,
        GOOD_SECRET,
        {**GOOD_SECRET, "recoveryWindowInDays": 0},
    ),
    "secretsmanager-description": (soc2_rules.SECRET, GOOD_SECRET, {**GOOD_SECRET, "description": ""}),
    "secretsmanager-policy-not-public": (
        soc2_rules.SECRET_POLICY,
        {
            "blockPublicPolicy": True,
            "policy": policy({**READ_SECRETS, "Principal": {"AWS": "arn:aws:iam::1:role/app"}}),
        },
        {"blockPublicPolicy": True, "policy": policy({**READ_SECRETS, "Principal": "*"})},
    ),
    "rds-storage-encrypted-cmk": (soc2_rules.RDS_INSTANCE, GOOD_DB, {**GOOD_DB, "storageEncrypted": False}),
    "rds-not-publicly-accessible": (
        soc2_rules.RDS_INSTANCE,
        GOOD_DB,
        {**GOOD_DB, "publiclyAccessible": True},
    ),
    "rds-backup-retention-7-days": (
        soc2_rules.RDS_INSTANCE,
        GOOD_DB,
        {**GOOD_DB, "backupRetentionPeriod": 1},
    ),
    "rds-enhanced-monitoring": (soc2_rules.RDS_INSTANCE, GOOD_DB, {**GOOD_DB, "monitoringInterval": 0}),
    "rds-iam-authentication": (
        soc2_rules.RDS_INSTANCE,
        GOOD_DB,
        {**GOOD_DB, "iamDatabaseAuthenticationEnabled": False},
    ),
    "rds-log-exports": (
        soc2_rules.RDS_INSTANCE,
        GOOD_DB,
        {**GOOD_DB, "enabledCloudwatchLogsExports": ["upgrade"]},
    ),
    "rds-auto-minor-version-upgrade": (
        soc2_rules.RDS_INSTANCE,
        GOOD_DB,
        {**GOOD_DB, "autoMinorVersionUpgrade": False},
    ),
    "rds-copy-tags-to-snapshots": (
        soc2_rules.RDS_INSTANCE,
        GOOD_DB,
        {**GOOD_DB, "copyTagsToSnapshot": False},
    ),
    "rds-custom-admin-username": (soc2_rules.RDS_INSTANCE, GOOD_DB, {**GOOD_DB, "username": "postgres"}),
    "rds-final-snapshot": (soc2_rules.RDS_INSTANCE, GOOD_DB, {**GOOD_DB, "skipFinalSnapshot": True}),
    "rds-managed-master-password": (
        soc2_rules.RDS_INSTANCE,
        GOOD_DB,
        {**GOOD_DB, "manageMasterUserPassword": False, "password": "hunter2hunter2"},
    ),
    "rds-performance-insights-cmk": (
        soc2_rules.RDS_INSTANCE,
        GOOD_DB,
        {**GOOD_DB, "performanceInsightsKmsKeyId": None},
    ),
    "rds-custom-parameter-group": (
        soc2_rules.RDS_INSTANCE,
        GOOD_DB,
        {**GOOD_DB, "parameterGroupName": "default.postgres17"},
    ),
    "rds-multi-az-in-prod": (soc2_rules.RDS_INSTANCE, GOOD_DB, {**GOOD_DB, "multiAz": False}),
    "rds-deletion-protection-in-prod": (
        soc2_rules.RDS_INSTANCE,
        GOOD_DB,
        {**GOOD_DB, "deletionProtection": False},
    ),
    "rds-force-ssl": (
        soc2_rules.RDS_PARAMETER_GROUP,
        GOOD_PARAMS,
        {**GOOD_PARAMS, "parameters": [p for p in GOOD_PARAMS["parameters"] if p["name"] != "rds.force_ssl"]},
    ),
    "rds-connection-logging": (
        soc2_rules.RDS_PARAMETER_GROUP,
        GOOD_PARAMS,
        {
            **GOOD_PARAMS,
            "parameters": [p for p in GOOD_PARAMS["parameters"] if p["name"] != "log_connections"],
        },
    ),
    "ec2-imdsv2-required": (
        soc2_rules.EC2_INSTANCE,
        GOOD_INSTANCE,
        {**GOOD_INSTANCE, "metadataOptions": {"httpTokens": "optional"}},
    ),
    "ec2-volumes-encrypted-cmk": (
        soc2_rules.EC2_INSTANCE,
        GOOD_INSTANCE,
        {**GOOD_INSTANCE, "rootBlockDevice": {"encrypted": False}},
    ),
    "ec2-detailed-monitoring": (
        soc2_rules.EC2_INSTANCE,
        GOOD_INSTANCE,
        {**GOOD_INSTANCE, "monitoring": False},
    ),
    "ec2-instance-profile": (
        soc2_rules.EC2_INSTANCE,
        GOOD_INSTANCE,
        {**GOOD_INSTANCE, "iamInstanceProfile": None},
    ),
    "ec2-subnet-no-auto-public-ip": (
        soc2_rules.SUBNET,
        {"mapPublicIpOnLaunch": False},
        {"mapPublicIpOnLaunch": True},
    ),
    "ec2-default-security-group-closed": (
        soc2_rules.DEFAULT_SG,
        {"vpcId": "vpc-1"},
        {"vpcId": "vpc-1", "ingress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}]},
    ),
    "ec2-no-world-ingress-except-web": (
        soc2_rules.SG_INGRESS_RULE,
        {"cidrIpv4": "0.0.0.0/0", "fromPort": 443, "toPort": 443, "ipProtocol": "tcp"},
        {"cidrIpv4": "0.0.0.0/0", "fromPort": 22, "toPort": 22, "ipProtocol": "tcp"},
    ),
    "ec2-flow-log-all-traffic": (soc2_rules.FLOW_LOG, {"trafficType": "ALL"}, {"trafficType": "REJECT"}),
    "elb-deletion-protection-in-prod": (
        soc2_rules.LOAD_BALANCER,
        {"enableDeletionProtection": True, "tags": {"Environment": "prod"}},
        {"enableDeletionProtection": False, "tags": {"Environment": "prod"}},
    ),
    "s3-bucket-public-access-blocked": (
        soc2_rules.S3_PUBLIC_ACCESS_BLOCK,
        dict.fromkeys(soc2_rules.PUBLIC_ACCESS_SETTINGS, True),
        {**dict.fromkeys(soc2_rules.PUBLIC_ACCESS_SETTINGS, True), "restrictPublicBuckets": False},
    ),
    "s3-bucket-encrypted-cmk": (
        soc2_rules.S3_ENCRYPTION[0],
        {
            "rules": [
                {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "k"}}
            ]
        },
        {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
    ),
    "s3-bucket-policy-tls-only": (
        soc2_rules.S3_POLICY,
        {
            "policy": policy(
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": "*",
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            )
        },
        {"policy": policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"})},
    ),
    "cloudwatch-log-group-encrypted-cmk": (soc2_rules.LOG_GROUP, GOOD_LOG_GROUP, {"retentionInDays": 365}),
    "cloudwatch-log-group-retention-90-days": (
        soc2_rules.LOG_GROUP,
        GOOD_LOG_GROUP,
        {**GOOD_LOG_GROUP, "retentionInDays": 30},
    ),
}


def test_every_rule_has_a_bad_case() -> None:
    assert set(CASES) == {rule.name for rule in RULES}


def _split(props: dict[str, Any], default_type: str) -> tuple[str, dict[str, Any]]:
    props = dict(props)
    return props.pop("__type", default_type), props


@pytest.mark.parametrize("rule_name", sorted(CASES))
def test_rule_reports_its_bad_case(rule_name: str) -> None:
    resource_type, _, bad = CASES[rule_name]
    bad_type, bad_props = _split(bad, resource_type)
    assert run_resource_policy(rule_name, bad_type, bad_props), f"{rule_name} let its bad case through"


@pytest.mark.parametrize("rule_name", sorted(CASES))
def test_rule_passes_its_good_case(rule_name: str) -> None:
    resource_type, good, _ = CASES[rule_name]
    assert run_resource_policy(rule_name, resource_type, good) == []


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (
            soc2_rules.SECURITY_GROUP,
            {"ingress": [{"cidrBlocks": ["0.0.0.0/0"], "fromPort": 5432, "toPort": 5432, "protocol": "tcp"}]},
        ),
        (
            soc2_rules.SG_RULE,
            {
                "type": "ingress",
                "cidrBlocks": ["0.0.0.0/0"],
                "fromPort": 0,
                "toPort": 65535,
                "protocol": "tcp",
            },
        ),
        (soc2_rules.SG_INGRESS_RULE, {"cidrIpv6": "::/0", "ipProtocol": "-1"}),
        (
            soc2_rules.SG_INGRESS_RULE,
            {"cidrIpv4": "0.0.0.0/0", "fromPort": 80, "toPort": 443, "ipProtocol": "tcp"},
        ),
    ],
)
def test_world_ingress_rule_covers_every_way_to_write_a_rule(
    resource_type: str, props: dict[str, Any]
) -> None:
    assert run_resource_policy("ec2-no-world-ingress-except-web", resource_type, props)


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (soc2_rules.LAUNCH_TEMPLATE, {"metadataOptions": {"httpTokens": "optional"}}),
        (soc2_rules.EC2_INSTANCE, {"ami": "ami-1"}),
    ],
)
def test_imdsv2_rule_covers_launch_templates_and_default_options(
    resource_type: str, props: dict[str, Any]
) -> None:
    assert run_resource_policy("ec2-imdsv2-required", resource_type, props)


def test_ebs_rule_requires_cmk_on_volumes_and_launch_templates() -> None:
    assert run_resource_policy(
        "ec2-volumes-encrypted-cmk", soc2_rules.EBS_VOLUME, {"encrypted": True, "size": 8}
    )
    template = {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}]}
    assert run_resource_policy("ec2-volumes-encrypted-cmk", soc2_rules.LAUNCH_TEMPLATE, template)


def test_log_group_without_retention_is_reported() -> None:
    assert run_resource_policy(
        "cloudwatch-log-group-retention-90-days", soc2_rules.LOG_GROUP, {"kmsKeyId": "k"}
    )


def test_non_prod_database_may_skip_multi_az_and_deletion_protection() -> None:
    dev_db = {**GOOD_DB, "multiAz": False, "deletionProtection": False, "tags": {"Environment": "dev"}}
    assert run_resource_policy("rds-multi-az-in-prod", soc2_rules.RDS_INSTANCE, dev_db) == []
    assert run_resource_policy("rds-deletion-protection-in-prod", soc2_rules.RDS_INSTANCE, dev_db) == []


def test_vpc_without_flow_log_is_reported(dev: StackRun) -> None:
    without_flow_log = StackRun(resources=[r for r in dev if r.type != soc2_rules.FLOW_LOG])
    assert run_stack_policy("ec2-vpc-flow-logs-enabled", policy_resources(without_flow_log))


def test_flow_log_on_another_vpc_does_not_count(dev: StackRun) -> None:
    other = Recorded(soc2_rules.VPC, "other-vpc", {"cidrBlock": "10.9.0.0/16"}, "other-vpc-id")
    assert run_stack_policy("ec2-vpc-flow-logs-enabled", policy_resources(StackRun(resources=[*dev, other])))


def test_pack_has_a_policy_per_rule_plus_stack_rules() -> None:
    assert set(RESOURCE_POLICIES) == {rule.name for rule in RULES}
    assert set(STACK_POLICIES) == {"ec2-vpc-flow-logs-enabled", "s3-buckets-guarded"}


@pytest.mark.parametrize(
    "missing",
    [
        soc2_rules.S3_PUBLIC_ACCESS_BLOCK,
        soc2_rules.S3_ENCRYPTION[0],
        soc2_rules.S3_POLICY,
    ],
)
def test_bucket_without_each_guard_is_reported(dev: StackRun, missing: str) -> None:
    assert dev.of_type("aws:s3/bucket:Bucket"), "the dev stack (SSM mode) should have the transfer bucket"
    stripped = StackRun(resources=[r for r in dev if r.type != missing])
    assert run_stack_policy("s3-buckets-guarded", policy_resources(stripped))


def test_guards_of_another_bucket_do_not_count(dev: StackRun) -> None:
    other = Recorded("aws:s3/bucket:Bucket", "other-bucket", {"bucket": "other"}, "other")
    assert run_stack_policy("s3-buckets-guarded", policy_resources(StackRun(resources=[*dev, other])))
