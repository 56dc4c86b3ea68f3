"""The policy pack, run the way `pulumi preview --policy-pack` runs it.

Every resource goes through pulumi-policy's own request handler (`_PolicyAnalyzerServicer.Analyze`
and `.AnalyzeStack`, what the policy server calls for each gRPC request): props are serialised to a
protobuf Struct as the engine sends them (numbers become floats), deserialised and wrapped by
`unknown_checking_proxy` (lists become `_ListProxy`, objects `_DictProxy`), and an exception in a
rule escapes exactly as it would abort a preview.

1. Each shipped stack, run under mocks, yields exactly the violations written below (today only
   those the program branch is fixing per the issue #12 contract).
2. Each rule reports every bad case it is meant to catch, with the message that names the problem,
   and no other rule fires on it; each good base passes every rule.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
import soc2_rules
from google.protobuf import json_format, struct_pb2  # type: ignore[import-untyped]  # no stubs pinned
from pulumi.runtime import proto
from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.policy import _PolicyAnalyzerServicer  # the policy server's request handler
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, _DictProxy, _ListProxy
from soc2_rules import RULES, STACK_RULES, build_policies
from tests.harness import Recorded, StackRun

PACK = _PolicyAnalyzerServicer("soc2kit-aws", "0.0.1", build_policies(), EnforcementLevel.MANDATORY)
MANDATORY = proto.MANDATORY
ADVISORY = proto.ADVISORY


@dataclass(frozen=True)
class Finding:
    policy: str
    message: str  # what the rule reported (the engine prefixes the policy description; dropped here)
    level: int
    resource: str  # the resource's name

    @property
    def text(self) -> str:
        """The message without its trailing " [FSBP ...; SOC2 ...]" citation."""
        return self.message.rsplit(" [", 1)[0]


def _struct(props: dict[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(props, struct_pb2.Struct())


def _urn(resource_type: str, name: str) -> str:
    return f"urn:pulumi:test::soc2kit::{resource_type}::{name}"


def _findings(response: Any) -> list[Finding]:
    return [
        Finding(d.policyName, d.message.split("\n", 1)[-1], d.enforcementLevel, d.urn.rsplit("::", 1)[-1])
        for d in response.diagnostics
    ]


def analyze(resource_type: str, props: dict[str, Any], name: str = "r") -> list[Finding]:
    """All policies on one resource, as the engine asks for each resource it registers."""
    request = proto.AnalyzeRequest(
        type=resource_type, properties=_struct(props), urn=_urn(resource_type, name), name=name
    )
    response = PACK.Analyze(request, None)  # type: ignore[no-untyped-call]
    return [dataclasses.replace(f, resource=name) for f in _findings(response)]


def analyze_stack(resources: Iterable[Recorded], preview: bool = False) -> list[Finding]:
    """The stack policies on recorded resources. Their outputs include the id; a property holding
    another resource's id is a property dependency, as the engine records for an Output input.
    `preview`: every id, and every property holding one, is unknown, as in a first preview."""
    resources = list(resources)
    urn_by_id = {r.id: _urn(r.type, r.name) for r in resources}

    def hide(value: Any) -> Any:
        if isinstance(value, list):
            return [hide(v) for v in value]
        return UNKNOWN_STRING_VALUE if preview and isinstance(value, str) and value in urn_by_id else value

    request = proto.AnalyzeStackRequest()
    for r in resources:
        dependencies = {}
        for prop, value in r.inputs.items():
            values = value if isinstance(value, list) else [value]
            urns = [urn_by_id[v] for v in values if isinstance(v, str) and v in urn_by_id]
            if urns:
                dependencies[prop] = proto.AnalyzerPropertyDependencies(urns=urns)
        outputs = {**{k: hide(v) for k, v in r.inputs.items()}, "id": hide(r.id)}
        request.resources.append(
            proto.AnalyzerResource(
                type=r.type,
                properties=_struct(outputs),
                urn=_urn(r.type, r.name),
                name=r.name,
                propertyDependencies=dependencies,
            )
        )
    return _findings(PACK.AnalyzeStack(request, None))  # type: ignore[no-untyped-call]


def analyze_program(run: StackRun) -> list[Finding]:
    return [f for r in run for f in analyze(r.type, r.inputs, r.name)] + analyze_stack(run)


# --- the driver feeds rules what the engine feeds them ---------------------------------------------


def test_rules_receive_the_engines_proxies_not_plain_lists() -> None:
    seen: dict[str, Any] = {}

    def capture(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        seen.update(props=args.props, parameters=args.props["parameters"], port=args.props["port"])

    probe = _PolicyAnalyzerServicer(
        "probe", "0.0.1", [ResourceValidationPolicy("probe", "probe", capture)], EnforcementLevel.MANDATORY
    )
    props = {"parameters": [{"name": "rds.force_ssl", "value": "1"}], "port": 5433}
    request = proto.AnalyzeRequest(type="t", properties=_struct(props), urn="urn", name="r")
    probe.Analyze(request, None)  # type: ignore[no-untyped-call]
    assert isinstance(seen["props"], _DictProxy)
    assert isinstance(seen["parameters"], _ListProxy)
    assert not isinstance(seen["parameters"], list)
    assert seen["port"] == 5433.0
    assert isinstance(seen["port"], float)


# --- 1. the shipped stacks -------------------------------------------------------------------------

# The shipped stacks break no mandatory rule. The only findings are the advisory list of rotation
# exemptions: each secret names why a Lambda does not rotate it (FSBP SecretsManager.1).
SECRETS = (
    "django_secret_key",
    "field_encryption_blind_index_key",
    "db_app_credentials",
    "db_owner_credentials",
)
STACKS = ("dev", "staging", "prod", "dev_with_ssh")


@pytest.mark.parametrize("stack", STACKS)
def test_program_yields_exactly_the_expected_violations(stack: str, request: pytest.FixtureRequest) -> None:
    run: StackRun = request.getfixturevalue(stack)
    findings = analyze_program(run)
    assert [(f.policy, f.resource, f.message) for f in findings if f.level == MANDATORY] == []
    exemptions = sorted((f.policy, f.resource) for f in findings)
    assert exemptions == sorted(("secretsmanager-rotation-exemptions", f"secrets-{s}") for s in SECRETS)
    for finding in findings:
        assert re.search(r"is not rotated: \S.{20,}", finding.text), finding.text  # a real reason


def test_rules_actually_inspect_the_program(prod: StackRun) -> None:
    """Guards the test above against passing vacuously: every rule type the program uses is judged."""
    judged = {rule.name for rule in RULES if any(r.type in rule.resource_types for r in prod)}
    not_used_by_program = {
        "iam-no-user-policies",  # the program creates no IAM users, which is the point
    }
    assert judged | not_used_by_program == {rule.name for rule in RULES}


# --- 2. each rule against its bad cases ------------------------------------------------------------


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ADMIN_STATEMENT = {
    "Sid": "Admin",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
    "Action": ["kms:Describe*", "kms:ScheduleKeyDeletion"],
    "Resource": "*",
}
GOOD_KEY: dict[str, Any] = {
    "enableKeyRotation": True,
    "deletionWindowInDays": 30,
    "policy": policy(ADMIN_STATEMENT),
    "tags": {"Environment": "prod"},
}
EVERYONE_DECRYPTS = {
    "Sid": "Open",
    "Effect": "Allow",
    "Principal": "*",
    "Action": "kms:Decrypt",
    "Resource": "*",
}
READ_SECRETS = {
    "Sid": "Read",
    "Effect": "Allow",
    "Action": "secretsmanager:GetSecretValue",
    "Resource": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:x",
}
GOOD_ROLE: dict[str, Any] = {
    "assumeRolePolicy": policy(
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ),
    "inlinePolicies": [{"name": "read", "policy": policy(READ_SECRETS)}],
    "managedPolicyArns": ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"],
}
GOOD_DB: dict[str, Any] = {
    "engine": "postgres",
    "port": 5433,
    "storageEncrypted": True,
    "kmsKeyId": KEY_ARN,
    "publiclyAccessible": False,
    "backupRetentionPeriod": 35,
    "monitoringInterval": 60,
    "monitoringRoleArn": "arn:aws:iam::111122223333:role/rds-monitoring",
    "iamDatabaseAuthenticationEnabled": True,
    "enabledCloudwatchLogsExports": ["postgresql", "upgrade"],
    "autoMinorVersionUpgrade": True,
    "copyTagsToSnapshot": True,
    "username": "dbadmin",
    "skipFinalSnapshot": False,
    "manageMasterUserPassword": True,
    "performanceInsightsEnabled": True,
    "performanceInsightsKmsKeyId": KEY_ARN,
    "parameterGroupName": "app-postgres17",
    "multiAz": True,
    "deletionProtection": True,
    "tags": {"Environment": "prod"},
}
GOOD_PARAMETERS = {
    "rds.force_ssl": "1",
    "ssl_min_protocol_version": "TLSv1.2",
    "password_encryption": "scram-sha-256",
    "log_connections": "1",
    "log_disconnections": "1",
    "log_statement": "ddl",
}


def parameter_group(**overrides: str | None) -> dict[str, Any]:
    values = {**GOOD_PARAMETERS, **overrides}
    return {
        "family": "postgres17",
        "parameters": [
            {"name": n, "value": v, "applyMethod": "pending-reboot"} for n, v in values.items() if v
        ],
    }


GOOD_INSTANCE: dict[str, Any] = {
    "ami": "ami-0123456789abcdef0",
    "instanceType": "t3.small",
    "metadataOptions": {"httpTokens": "required", "httpEndpoint": "enabled"},
    "rootBlockDevice": {"encrypted": True, "kmsKeyId": KEY_ARN},
    "ebsBlockDevices": [{"deviceName": "/dev/sdf", "encrypted": True, "kmsKeyId": KEY_ARN}],
    "monitoring": True,
    "iamInstanceProfile": "profile",
}
GOOD_TEMPLATE: dict[str, Any] = {
    "metadataOptions": {"httpTokens": "required"},
    "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "kmsKeyId": KEY_ARN}}],
}
GOOD_SECRET = {"kmsKeyId": KEY_ARN, "recoveryWindowInDays": 30, "description": "what it is"}
GOOD_SECRET_POLICY = {
    "blockPublicPolicy": True,
    "policy": policy(
        {**READ_SECRETS, "Principal": {"AWS": "arn:aws:iam::111122223333:role/app"}},
        {
            "Sid": "DenyOthers",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/app"}},
        },
    ),
}
GOOD_LOG_GROUP = {"kmsKeyId": KEY_ARN, "retentionInDays": 365}
CLOUDWATCH_PUBLISHES = {
    "Sid": "CloudWatchAlarms",
    "Effect": "Allow",
    "Principal": {"Service": "cloudwatch.amazonaws.com"},
    "Action": "sns:Publish",
    "Resource": "arn:aws:sns:eu-west-1:111122223333:alerts",
    "Condition": {"StringEquals": {"aws:SourceAccount": "111122223333"}},
}
DENY_PLAIN_HTTP = {
    "Sid": "DenyPlainHttp",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
GOOD_BUCKET_ENCRYPTION = {
    "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN}}]
}
HTTPS_FROM_ANYWHERE = {"cidrIpv4": "0.0.0.0/0", "fromPort": 443, "toPort": 443, "ipProtocol": "tcp"}
SSH_FROM_ADMINS = {"cidrIpv4": "203.0.113.0/24", "fromPort": 22, "toPort": 22, "ipProtocol": "tcp"}

# (resource type, props) that every rule passes: the bad cases below each break one thing in one.
GOOD_BASES: dict[str, tuple[str, dict[str, Any]]] = {
    "key": (soc2_rules.KMS_KEY, GOOD_KEY),
    "role": (soc2_rules.IAM_ROLE, GOOD_ROLE),
    "role policy": ("aws:iam/rolePolicy:RolePolicy", {"policy": policy(READ_SECRETS)}),
    "managed policy": ("aws:iam/policy:Policy", {"policy": policy(READ_SECRETS)}),
    "attachment": (
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        {"role": "app", "policyArn": "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"},
    ),
    "secret": (soc2_rules.SECRET, GOOD_SECRET),
    "secret policy": (soc2_rules.SECRET_POLICY, GOOD_SECRET_POLICY),
    "database": (soc2_rules.RDS_INSTANCE, GOOD_DB),
    "parameter group": (soc2_rules.RDS_PARAMETER_GROUPS[0], parameter_group()),
    "instance": (soc2_rules.EC2_INSTANCE, GOOD_INSTANCE),
    "launch template": (soc2_rules.LAUNCH_TEMPLATE, GOOD_TEMPLATE),
    "volume": (soc2_rules.EBS_VOLUME, {"encrypted": True, "kmsKeyId": KEY_ARN, "size": 8}),
    "subnet": (soc2_rules.SUBNET, {"mapPublicIpOnLaunch": False}),
    "default sg": (soc2_rules.DEFAULT_SG, {"vpcId": "vpc-1"}),
    "https ingress": (soc2_rules.SG_INGRESS_RULE, HTTPS_FROM_ANYWHERE),
    "ssh from admins": (soc2_rules.SG_INGRESS_RULE, SSH_FROM_ADMINS),
    "ssh from the vpc": (
        soc2_rules.SG_RULE,
        {"type": "ingress", "cidrBlocks": ["10.40.0.0/16"], "fromPort": 22, "toPort": 22, "protocol": "tcp"},
    ),
    "sg inline": (
        soc2_rules.SECURITY_GROUP,
        {
            "ingress": [
                {
                    "cidrBlocks": ["0.0.0.0/0"],
                    "ipv6CidrBlocks": ["::/0"],
                    "fromPort": 80,
                    "toPort": 80,
                    "protocol": "tcp",
                }
            ]
        },
    ),
    "flow log": (soc2_rules.FLOW_LOG, {"trafficType": "ALL"}),
    "nlb": (
        soc2_rules.LOAD_BALANCERS[0],
        {"enableDeletionProtection": True, "tags": {"Environment": "prod"}},
    ),
    "public access block": (
        soc2_rules.S3_PUBLIC_ACCESS_BLOCK,
        dict.fromkeys(soc2_rules.PUBLIC_ACCESS_SETTINGS, True),
    ),
    "bucket encryption": (soc2_rules.S3_ENCRYPTION[0], GOOD_BUCKET_ENCRYPTION),
    "bucket policy": (soc2_rules.S3_POLICY, {"policy": policy(DENY_PLAIN_HTTP)}),
    "log group": (soc2_rules.LOG_GROUP, GOOD_LOG_GROUP),
    "alerts topic": (soc2_rules.SNS_TOPIC, {"name": "alerts", "kmsMasterKeyId": KEY_ARN}),
    "topic policy": (
        soc2_rules.SNS_TOPIC_POLICY,
        {"arn": "arn:aws:sns:eu-west-1:111122223333:alerts", "policy": policy(CLOUDWATCH_PUBLISHES)},
    ),
}


@pytest.mark.parametrize("base", sorted(GOOD_BASES))
def test_good_base_passes_every_rule(base: str) -> None:
    resource_type, props = GOOD_BASES[base]
    assert analyze(resource_type, props) == []


@dataclass(frozen=True)
class Bad:
    rule: str
    resource_type: str
    props: dict[str, Any]
    message: str  # a regex the rule's message must match: it names this very problem
    also: frozenset[str] = field(default_factory=frozenset)  # other rules this case rightly trips too


def with_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"policy": policy(*statements)}


def key_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {**GOOD_KEY, "policy": policy(ADMIN_STATEMENT, *statements)}


def allow(action: Any, resource: Any = "*", **more: Any) -> dict[str, Any]:
    return {"Sid": "Bad", "Effect": "Allow", "Action": action, "Resource": resource, **more}


def db(**overrides: Any) -> dict[str, Any]:
    return {k: v for k, v in {**GOOD_DB, **overrides}.items() if v is not None}


def instance(**overrides: Any) -> dict[str, Any]:
    return {k: v for k, v in {**GOOD_INSTANCE, **overrides}.items() if v is not None}


def ingress(source: str, port: int = 22, protocol: str = "tcp") -> dict[str, Any]:
    key = "cidrIpv6" if ":" in source else "cidrIpv4"
    return {key: source, "fromPort": port, "toPort": port, "ipProtocol": protocol}


ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
PARAMETER_GROUP = soc2_rules.RDS_PARAMETER_GROUPS[0]
OPEN_CONDITIONS: dict[str, dict[str, Any]] = {
    "secure transport only": {"Bool": {"aws:SecureTransport": "true"}},
    "via a service only": {"StringEquals": {"kms:ViaService": "ec2.eu-west-1.amazonaws.com"}},
    "any account": {"StringLike": {"kms:CallerAccount": "*"}},
    "IfExists passes when absent": {"StringEqualsIfExists": {"aws:PrincipalAccount": "111122223333"}},
    "negated": {"StringNotEquals": {"aws:PrincipalAccount": "444455556666"}},
    "any account's role": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/app"}},
}
ALL_KEYS_RESOURCES = [
    "*",
    "arn:aws:kms:*:*:key/*",
    "arn:aws:kms:eu-west-1:111122223333:key/*",
    "arn:aws:kms:*:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "arn:aws:kms:eu-west-1:*:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "arn:aws:*:*:*:*",
    "arn:*",
]
WIDE_SOURCES = [
    "0.0.0.0/0",
    "0.0.0.0/1",
    "128.0.0.0/1",
    "0.0.0.0/2",
    "203.0.0.0/8",
    "::/0",
    "::/1",
    "2000::/3",
    "2001:db8::/32",
]

BAD_CASES: list[Bad] = [
    Bad("kms-key-rotation-enabled", soc2_rules.KMS_KEY, {**GOOD_KEY, "enableKeyRotation": False}, "rotation"),
    Bad(
        "kms-key-rotation-enabled",
        soc2_rules.KMS_KEY,
        {k: v for k, v in GOOD_KEY.items() if k != "enableKeyRotation"},
        "rotation",
    ),
    Bad(
        "kms-key-deletion-window-in-prod",
        soc2_rules.KMS_KEY,
        {**GOOD_KEY, "deletionWindowInDays": 7},
        "deletion window is 7 days; use 30",
    ),
    Bad(
        "kms-key-no-lockout-bypass",
        soc2_rules.KMS_KEY,
        {**GOOD_KEY, "bypassPolicyLockoutSafetyCheck": True},
        "lockout safety check",
    ),
    Bad(
        "kms-key-policy-least-privilege",
        soc2_rules.KMS_KEY,
        {**GOOD_KEY, "policy": None},
        "explicit key policy",
    ),
    Bad(
        "kms-key-policy-least-privilege",
        soc2_rules.KMS_KEY,
        key_policy(EVERYONE_DECRYPTS),
        "statement Open allows any principal",
    ),
    Bad(
        "kms-key-policy-least-privilege",
        soc2_rules.KMS_KEY,
        key_policy({**EVERYONE_DECRYPTS, "Principal": {"AWS": ["*"]}}),
        "statement Open allows any principal",
    ),
    *[
        Bad(
            "kms-key-policy-least-privilege",
            soc2_rules.KMS_KEY,
            key_policy({**EVERYONE_DECRYPTS, "Condition": condition}),
            "statement Open allows any principal",
        )
        for condition in OPEN_CONDITIONS.values()
    ],
    Bad(
        "kms-key-policy-least-privilege",
        soc2_rules.KMS_KEY,
        key_policy({**ADMIN_STATEMENT, "Sid": "All", "Action": "kms:*"}),
        "statement All allows kms:\\*",
    ),
    Bad(
        "kms-key-policy-least-privilege",
        soc2_rules.KMS_KEY,
        key_policy({**ADMIN_STATEMENT, "Sid": "All", "Action": "*"}),
        "statement All allows kms:\\*",
    ),
    Bad(
        "kms-key-policy-least-privilege",
        soc2_rules.KMS_KEY,
        key_policy(
            {
                "Sid": "Not",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "NotAction": "kms:ScheduleKeyDeletion",
                "Resource": "*",
            }
        ),
        "statement Not allows every action not listed",
    ),
    Bad(
        "iam-no-admin-policies",
        ROLE_POLICY,
        with_policy(allow("*")),
        "grants every action",
        frozenset({"iam-no-decrypt-on-all-keys"}),
    ),
    Bad(
        "iam-no-admin-policies",
        ROLE_POLICY,
        with_policy(allow(["*:*"], "arn:aws:s3:::b")),
        "grants every action",
    ),
    Bad(
        "iam-no-admin-policies",
        "aws:iam/policy:Policy",
        with_policy({"Sid": "Bad", "Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"}),
        "except those listed.*NotAction",
        frozenset({"iam-no-decrypt-on-all-keys"}),
    ),
    Bad(
        "iam-no-admin-policies",
        soc2_rules.IAM_ROLE,
        {**GOOD_ROLE, "inlinePolicies": [{"name": "all", "policy": policy(allow("*"))}]},
        "inline policy 'all' statement Bad grants every action",
        frozenset({"iam-no-decrypt-on-all-keys"}),
    ),
    *[
        Bad("iam-no-admin-managed-policies", ATTACHMENT, {"role": "app", "policyArn": arn}, name)
        for name, arn in [
            ("AdministratorAccess", "arn:aws:iam::aws:policy/AdministratorAccess"),
            ("PowerUserAccess", "arn:aws:iam::aws:policy/PowerUserAccess"),
            ("SystemAdministrator", "arn:aws:iam::aws:policy/job-function/SystemAdministrator"),
            ("AmazonS3FullAccess", "arn:aws:iam::aws:policy/AmazonS3FullAccess"),
            ("AdministratorAccess", "arn:aws-us-gov:iam::aws:policy/AdministratorAccess"),
        ]
    ],
    Bad(
        "iam-no-admin-managed-policies",
        soc2_rules.IAM_ROLE,
        {**GOOD_ROLE, "managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]},
        "AdministratorAccess",
    ),
    Bad(
        "iam-no-admin-managed-policies",
        "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
        {"group": "ops", "policyArn": "arn:aws:iam::aws:policy/IAMFullAccess"},
        "IAMFullAccess",
    ),
    Bad(
        "iam-no-service-wildcard-actions",
        "aws:iam/policy:Policy",
        with_policy(allow("s3:*", "arn:aws:s3:::b")),
        "every action of a service: s3:\\*",
    ),
    Bad(
        "iam-no-service-wildcard-actions",
        soc2_rules.IAM_ROLE,
        {
            **GOOD_ROLE,
            "inlinePolicies": [{"name": "s3", "policy": policy(allow(["S3:*"], "arn:aws:s3:::b"))}],
        },
        "inline policy 's3'.*S3:\\*",
    ),
    *[
        Bad(
            "iam-no-decrypt-on-all-keys",
            ROLE_POLICY,
            with_policy(allow(action, resource)),
            "allows kms:Decrypt.*on all KMS keys",
            also,
        )
        for action, resource, also in [
            ("kms:Decrypt", "*", frozenset()),
            (["KMS:decrypt"], "arn:aws:kms:*:*:key/*", frozenset()),
            ("kms:De*", "arn:aws:kms:eu-west-1:111122223333:key/*", frozenset()),
            ("kms:*", "arn:aws:kms:*:*:key/*", frozenset({"iam-no-service-wildcard-actions"})),
        ]
    ],
    *[
        Bad(
            "iam-no-decrypt-on-all-keys",
            ROLE_POLICY,
            with_policy(allow("kms:Decrypt", resource)),
            f"on all KMS keys: {re.escape(repr(resource))}",
        )
        for resource in ALL_KEYS_RESOURCES
    ],
    Bad(
        "iam-no-decrypt-on-all-keys",
        ROLE_POLICY,
        with_policy(allow("kms:ReEncryptFrom", ["arn:aws:kms:*:*:*"])),
        "kms:ReEncryptFrom on all KMS keys",
    ),
    Bad(
        "iam-no-decrypt-on-all-keys",
        ROLE_POLICY,
        with_policy({"Sid": "Bad", "Effect": "Allow", "Action": "kms:Decrypt", "NotResource": KEY_ARN}),
        "on all KMS keys",
    ),
    Bad(
        "iam-no-decrypt-on-all-keys",
        soc2_rules.IAM_ROLE,
        {**GOOD_ROLE, "inlinePolicies": [{"name": "kms", "policy": policy(allow("kms:Decrypt"))}]},
        "inline policy 'kms'.*kms:Decrypt on all KMS keys",
    ),
    Bad(
        "iam-no-user-policies",
        "aws:iam/userPolicy:UserPolicy",
        with_policy(READ_SECRETS),
        "not directly to users",
    ),
    Bad(
        "iam-no-user-policies",
        "aws:iam/userPolicyAttachment:UserPolicyAttachment",
        {"user": "bob", "policyArn": "arn:aws:iam::111122223333:policy/read"},
        "not directly to users",
    ),
    Bad(
        "iam-role-trust-not-public",
        soc2_rules.IAM_ROLE,
        {
            **GOOD_ROLE,
            "assumeRolePolicy": policy(
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
            ),
        },
        "any AWS principal assume",
    ),
    Bad(
        "iam-role-trust-not-public",
        soc2_rules.IAM_ROLE,
        {
            **GOOD_ROLE,
            "assumeRolePolicy": policy(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": "sts:AssumeRole",
                    "Condition": OPEN_CONDITIONS["secure transport only"],
                }
            ),
        },
        "any AWS principal assume",
    ),
    Bad(
        "secretsmanager-secret-cmk", soc2_rules.SECRET, {**GOOD_SECRET, "kmsKeyId": None}, "customer-managed"
    ),
    Bad(
        "secretsmanager-secret-cmk",
        soc2_rules.SECRET,
        {**GOOD_SECRET, "kmsKeyId": "alias/aws/secretsmanager"},
        "not aws/secretsmanager",
    ),
    Bad(
        "secretsmanager-recovery-window",
        soc2_rules.SECRET,
        {**GOOD_SECRET, "recoveryWindowInDays": 0},
        "recovery window is 0 days",
    ),
    Bad("secretsmanager-description", soc2_rules.SECRET, {**GOOD_SECRET, "description": "  "}, "description"),
    Bad(
        "secretsmanager-policy-not-public",
        soc2_rules.SECRET_POLICY,
        {**GOOD_SECRET_POLICY, "blockPublicPolicy": False},
        "blockPublicPolicy",
    ),
    Bad(
        "secretsmanager-policy-not-public",
        soc2_rules.SECRET_POLICY,
        {"blockPublicPolicy": True, "policy": policy({**READ_SECRETS, "Principal": "*"})},
        "statement Read lets any principal",
    ),
    Bad(
        "secretsmanager-policy-not-public",
        soc2_rules.SECRET_POLICY,
        {
            "blockPublicPolicy": True,
            "policy": policy(
                {**READ_SECRETS, "Principal": "*", "Condition": OPEN_CONDITIONS["any account's role"]}
            ),
        },
        "statement Read lets any principal",
    ),
    Bad(
        "secretsmanager-policy-not-public",
        soc2_rules.SECRET_POLICY,
        {
            "blockPublicPolicy": True,
            "policy": policy({**READ_SECRETS, "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}}),
        },
        "statement Read lets any principal",
    ),
    Bad(
        "rds-storage-encrypted-cmk", soc2_rules.RDS_INSTANCE, db(storageEncrypted=False), "must be encrypted"
    ),
    Bad("rds-storage-encrypted-cmk", soc2_rules.RDS_INSTANCE, db(kmsKeyId=None), "customer-managed KMS key"),
    Bad(
        "rds-storage-encrypted-cmk",
        soc2_rules.RDS_INSTANCE,
        db(kmsKeyId="alias/aws/rds"),
        "not the AWS-managed",
    ),
    Bad(
        "rds-not-publicly-accessible",
        soc2_rules.RDS_INSTANCE,
        db(publiclyAccessible=True),
        "publicly accessible",
    ),
    Bad(
        "rds-backup-retention-7-days",
        soc2_rules.RDS_INSTANCE,
        db(backupRetentionPeriod=1),
        r"\(it is 1 days\)",
    ),
    Bad(
        "rds-backup-retention-7-days",
        soc2_rules.RDS_INSTANCE,
        db(backupRetentionPeriod=None),
        "it is not set",
    ),
    Bad(
        "rds-enhanced-monitoring", soc2_rules.RDS_INSTANCE, db(monitoringInterval=0), "monitoringInterval > 0"
    ),
    Bad("rds-enhanced-monitoring", soc2_rules.RDS_INSTANCE, db(monitoringRoleArn=None), "needs its role"),
    Bad(
        "rds-iam-authentication",
        soc2_rules.RDS_INSTANCE,
        db(iamDatabaseAuthenticationEnabled=False),
        "IAM database authentication",
    ),
    Bad(
        "rds-log-exports",
        soc2_rules.RDS_INSTANCE,
        db(enabledCloudwatchLogsExports=["upgrade"]),
        "missing postgresql$",
    ),
    Bad(
        "rds-log-exports",
        soc2_rules.RDS_INSTANCE,
        db(enabledCloudwatchLogsExports=None),
        "missing postgresql, upgrade",
    ),
    Bad(
        "rds-auto-minor-version-upgrade", soc2_rules.RDS_INSTANCE, db(autoMinorVersionUpgrade=False), "minor"
    ),
    Bad(
        "rds-copy-tags-to-snapshots",
        soc2_rules.RDS_INSTANCE,
        db(copyTagsToSnapshot=False),
        "copyTagsToSnapshot",
    ),
    Bad(
        "rds-custom-admin-username",
        soc2_rules.RDS_INSTANCE,
        db(username="Postgres"),
        "'Postgres' is a default",
    ),
    Bad("rds-no-default-port", soc2_rules.RDS_INSTANCE, db(port=5432), "port 5432 is the postgres default"),
    Bad(
        "rds-no-default-port",
        soc2_rules.RDS_INSTANCE,
        db(port=None),
        "not set, so postgres listens on .* 5432",
    ),
    Bad(
        "rds-no-default-port",
        soc2_rules.RDS_CLUSTER,
        {
            k: v
            for k, v in db(engine="aurora-mysql", port=3306).items()
            if k
            in (
                "engine",
                "port",
                "storageEncrypted",
                "kmsKeyId",
                "backupRetentionPeriod",
                "copyTagsToSnapshot",
                "iamDatabaseAuthenticationEnabled",
                "skipFinalSnapshot",
                "manageMasterUserPassword",
                "deletionProtection",
                "tags",
            )
        },
        "port 3306 is the aurora-mysql default",
    ),
    Bad("rds-final-snapshot", soc2_rules.RDS_INSTANCE, db(skipFinalSnapshot=True), "final snapshot"),
    Bad(
        "rds-managed-master-password",
        soc2_rules.RDS_INSTANCE,
        db(password="hunter2hunter2"),
        "must not be set in code or state",
    ),
    Bad(
        "rds-managed-master-password",
        soc2_rules.RDS_INSTANCE,
        db(manageMasterUserPassword=None),
        "manageMasterUserPassword: true",
    ),
    Bad(
        "rds-performance-insights-cmk",
        soc2_rules.RDS_INSTANCE,
        db(performanceInsightsKmsKeyId=None),
        "Performance Insights",
    ),
    Bad(
        "rds-custom-parameter-group",
        soc2_rules.RDS_INSTANCE,
        db(parameterGroupName="default.postgres17"),
        "own parameter group",
    ),
    Bad(
        "rds-custom-parameter-group",
        soc2_rules.RDS_INSTANCE,
        db(parameterGroupName=None),
        "own parameter group",
    ),
    Bad("rds-multi-az-in-prod", soc2_rules.RDS_INSTANCE, db(multiAz=False), "Multi-AZ"),
    Bad(
        "rds-deletion-protection-in-prod",
        soc2_rules.RDS_INSTANCE,
        db(deletionProtection=False),
        "deletion protection",
    ),
    *[
        Bad(
            "rds-postgres-security-parameters",
            PARAMETER_GROUP,
            parameter_group(**{name: value}),
            f"parameter {re.escape(name)} is '{re.escape(value)}'; set",
        )
        for name, value in [
            ("rds.force_ssl", "0"),
            ("ssl_min_protocol_version", "TLSv1"),
            ("ssl_min_protocol_version", "TLSv1.1"),
            ("password_encryption", "md5"),
            ("log_connections", "0"),
            ("log_connections", "off"),
            ("log_disconnections", "0"),
            ("log_statement", "none"),
        ]
    ],
    *[
        Bad(
            "rds-postgres-security-parameters",
            PARAMETER_GROUP,
            parameter_group(**{name: None}),
            f"must set {re.escape(name)} = .*it is not set",
        )
        for name in GOOD_PARAMETERS
    ],
    Bad(
        "rds-postgres-security-parameters",
        soc2_rules.RDS_PARAMETER_GROUPS[1],
        {
            "family": "aurora-postgresql16",
            "parameters": parameter_group(**{"rds.force_ssl": None})["parameters"],
        },
        "must set rds.force_ssl = 1",
    ),
    Bad(
        "ec2-imdsv2-required",
        soc2_rules.EC2_INSTANCE,
        instance(metadataOptions={"httpTokens": "optional"}),
        "IMDSv2",
    ),
    Bad("ec2-imdsv2-required", soc2_rules.EC2_INSTANCE, instance(metadataOptions=None), "IMDSv2"),
    Bad(
        "ec2-imdsv2-required", soc2_rules.LAUNCH_TEMPLATE, {**GOOD_TEMPLATE, "metadataOptions": {}}, "IMDSv2"
    ),
    Bad(
        "ec2-volumes-encrypted-cmk",
        soc2_rules.EC2_INSTANCE,
        instance(rootBlockDevice={"encrypted": False}),
        "root volume must be encrypted$",
    ),
    Bad(
        "ec2-volumes-encrypted-cmk",
        soc2_rules.EC2_INSTANCE,
        instance(rootBlockDevice={"encrypted": True}),
        "root volume must be encrypted with a customer-managed",
    ),
    Bad(
        "ec2-volumes-encrypted-cmk",
        soc2_rules.EC2_INSTANCE,
        instance(ebsBlockDevices=[{"deviceName": "/dev/sdf", "encrypted": False}]),
        "volume /dev/sdf must be",
    ),
    Bad(
        "ec2-volumes-encrypted-cmk",
        soc2_rules.LAUNCH_TEMPLATE,
        {
            **GOOD_TEMPLATE,
            "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}],
        },
        "volume /dev/xvda must be encrypted$",
    ),
    Bad(
        "ec2-volumes-encrypted-cmk",
        soc2_rules.EBS_VOLUME,
        {"encrypted": True, "size": 8},
        "customer-managed KMS key",
    ),
    Bad(
        "ec2-detailed-monitoring", soc2_rules.EC2_INSTANCE, instance(monitoring=False), "detailed monitoring"
    ),
    Bad(
        "ec2-instance-profile", soc2_rules.EC2_INSTANCE, instance(iamInstanceProfile=None), "instance profile"
    ),
    Bad(
        "ec2-subnet-no-auto-public-ip",
        soc2_rules.SUBNET,
        {"mapPublicIpOnLaunch": True},
        "mapPublicIpOnLaunch",
    ),
    Bad(
        "ec2-default-security-group-closed",
        soc2_rules.DEFAULT_SG,
        {"vpcId": "vpc-1", "ingress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}]},
        "no rules",
    ),
    Bad(
        "ec2-default-security-group-closed",
        soc2_rules.DEFAULT_SG,
        {
            "vpcId": "vpc-1",
            "egress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}],
        },
        "no rules",
    ),
    *[
        Bad(
            "ec2-no-world-ingress-except-web",
            soc2_rules.SG_INGRESS_RULE,
            ingress(source),
            f"tcp port 22 open to the internet \\({re.escape(source)} spans",
        )
        for source in WIDE_SOURCES
    ],
    Bad(
        "ec2-no-world-ingress-except-web",
        soc2_rules.SG_INGRESS_RULE,
        ingress("0.0.0.0/0", 443, "-1"),
        "all traffic open",
    ),
    Bad(
        "ec2-no-world-ingress-except-web",
        soc2_rules.SG_INGRESS_RULE,
        ingress("0.0.0.0/0", 443, "udp"),
        "udp port 443 open",
    ),
    Bad(
        "ec2-no-world-ingress-except-web",
        soc2_rules.SG_INGRESS_RULE,
        {**HTTPS_FROM_ANYWHERE, "fromPort": 80, "toPort": 443},
        "tcp ports 80-443 open",
    ),
    Bad(
        "ec2-no-world-ingress-except-web", soc2_rules.SG_INGRESS_RULE, ingress("not-a-cidr"), "is not a CIDR"
    ),
    Bad(
        "ec2-no-world-ingress-except-web",
        soc2_rules.SG_RULE,
        {
            "type": "ingress",
            "cidrBlocks": ["10.0.0.0/8", "0.0.0.0/1"],
            "fromPort": 0,
            "toPort": 65535,
            "protocol": "tcp",
        },
        "tcp ports 0-65535 open to the internet \\(0.0.0.0/1",
    ),
    Bad(
        "ec2-no-world-ingress-except-web",
        soc2_rules.SECURITY_GROUP,
        {"ingress": [{"cidrBlocks": ["0.0.0.0/0"], "fromPort": 5432, "toPort": 5432, "protocol": "tcp"}]},
        "tcp port 5432 open",
    ),
    Bad(
        "ec2-no-world-ingress-except-web",
        soc2_rules.SECURITY_GROUP,
        {"ingress": [{"ipv6CidrBlocks": ["::/0"], "fromPort": 22, "toPort": 22, "protocol": "tcp"}]},
        "tcp port 22 open to the internet \\(::/0",
    ),
    Bad(
        "ec2-flow-log-all-traffic", soc2_rules.FLOW_LOG, {"trafficType": "REJECT"}, "ALL traffic, not REJECT"
    ),
    Bad(
        "elb-deletion-protection-in-prod",
        soc2_rules.LOAD_BALANCERS[0],
        {"enableDeletionProtection": False, "tags": {"Environment": "prod"}},
        "deletion protection",
    ),
    Bad(
        "s3-bucket-public-access-blocked",
        soc2_rules.S3_PUBLIC_ACCESS_BLOCK,
        {**dict.fromkeys(soc2_rules.PUBLIC_ACCESS_SETTINGS, True), "restrictPublicBuckets": False},
        "off: restrictPublicBuckets",
    ),
    Bad(
        "s3-bucket-encrypted-cmk",
        soc2_rules.S3_ENCRYPTION[0],
        {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
        "not SSE-S3",
    ),
    Bad(
        "s3-bucket-encrypted-cmk",
        soc2_rules.S3_ENCRYPTION[1],
        {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]},
        "customer-managed key",
    ),
    Bad(
        "s3-bucket-encrypted-cmk",
        soc2_rules.S3_ENCRYPTION[0],
        {
            "rules": [
                {
                    "applyServerSideEncryptionByDefault": {
                        "sseAlgorithm": "aws:kms",
                        "kmsMasterKeyId": "alias/aws/s3",
                    }
                }
            ]
        },
        "not the AWS-managed aws/s3",
    ),
    Bad(
        "s3-bucket-policy-tls-only",
        soc2_rules.S3_POLICY,
        with_policy({**DENY_PLAIN_HTTP, "Principal": {"AWS": "arn:aws:iam::111122223333:role/x"}}),
        "must deny requests without TLS",
    ),
    Bad(
        "s3-bucket-policy-tls-only",
        soc2_rules.S3_POLICY,
        with_policy(
            DENY_PLAIN_HTTP,
            {
                "Sid": "Public",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/*",
            },
        ),
        "statement Public lets anyone",
    ),
    Bad("sns-topic-encrypted-cmk", soc2_rules.SNS_TOPIC, {"name": "alerts"}, "must be encrypted"),
    Bad(
        "sns-topic-encrypted-cmk",
        soc2_rules.SNS_TOPIC,
        {"name": "alerts", "kmsMasterKeyId": "alias/aws/sns"},
        "not the AWS-managed aws/sns",
    ),
    Bad(
        "sns-topic-policy-not-public",
        soc2_rules.SNS_TOPIC_POLICY,
        {
            "arn": "arn:aws:sns:eu-west-1:111122223333:alerts",
            "policy": policy(
                {**CLOUDWATCH_PUBLISHES, "Principal": "*", "Condition": OPEN_CONDITIONS["via a service only"]}
            ),
        },
        "statement CloudWatchAlarms lets anyone",
    ),
    Bad(
        "sns-topic-policy-not-public",
        soc2_rules.SNS_TOPIC,
        {
            "name": "alerts",
            "kmsMasterKeyId": KEY_ARN,
            "policy": policy({**CLOUDWATCH_PUBLISHES, "Principal": {"AWS": "*"}, "Condition": {}}),
        },
        "statement CloudWatchAlarms lets anyone",
    ),
    Bad("cloudwatch-log-group-encrypted-cmk", soc2_rules.LOG_GROUP, {"retentionInDays": 365}, "kmsKeyId"),
    Bad(
        "cloudwatch-log-group-retention-365-days",
        soc2_rules.LOG_GROUP,
        {**GOOD_LOG_GROUP, "retentionInDays": 90},
        "keeps logs 90 days; at least 365",
    ),
    Bad(
        "cloudwatch-log-group-retention-365-days",
        soc2_rules.LOG_GROUP,
        {"kmsKeyId": KEY_ARN},
        "explicit retention",
    ),
    Bad(
        "cloudwatch-log-group-retention-365-days",
        soc2_rules.LOG_GROUP,
        {**GOOD_LOG_GROUP, "retentionInDays": 0},
        "explicit retention",
    ),
]


def _case_id(case: Bad) -> str:
    return f"{case.rule}:{case.message}"


@pytest.mark.parametrize("case", BAD_CASES, ids=[_case_id(c) for c in BAD_CASES])
def test_rule_reports_its_bad_case_with_its_message(case: Bad) -> None:
    findings = analyze(case.resource_type, case.props)
    assert all(f.level == MANDATORY for f in findings)
    own = [f.text for f in findings if f.policy == case.rule]
    assert own, f"{case.rule} let its bad case through"
    assert any(re.search(case.message, m) for m in own), own
    assert {f.policy for f in findings} - {case.rule} == set(case.also)


def test_every_check_of_every_rule_has_a_bad_case() -> None:
    """Each rule, and each resource shape it judges with its own check function, is caught failing."""
    rules = {rule.name: rule for rule in RULES}
    covered = {(c.rule, rules[c.rule].checks[c.resource_type]) for c in BAD_CASES}
    wanted = {(rule.name, check) for rule in RULES for check in rule.checks.values()}
    assert {(name, check.__name__) for name, check in wanted - covered} == set()


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (soc2_rules.KMS_KEY, {**GOOD_KEY, "deletionWindowInDays": 7, "tags": {"Environment": "dev"}}),
        (soc2_rules.RDS_INSTANCE, db(multiAz=False, deletionProtection=False, tags={"Environment": "dev"})),
        (
            soc2_rules.LOAD_BALANCERS[0],
            {"enableDeletionProtection": False, "tags": {"Environment": "staging"}},
        ),
        (
            soc2_rules.KMS_KEY,
            key_policy(
                {
                    **EVERYONE_DECRYPTS,
                    "Condition": {
                        "StringEquals": {
                            "kms:CallerAccount": "111122223333",
                            "kms:ViaService": "ec2.eu-west-1.amazonaws.com",
                        }
                    },
                }
            ),
        ),
        (
            soc2_rules.KMS_KEY,
            key_policy(
                {
                    **EVERYONE_DECRYPTS,
                    "Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/app"}},
                }
            ),
        ),
        (
            soc2_rules.KMS_KEY,
            key_policy(
                {**EVERYONE_DECRYPTS, "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}}
            ),
        ),
        (
            ROLE_POLICY,
            with_policy(allow("kms:Decrypt", [KEY_ARN, "arn:aws:kms:eu-west-1:111122223333:alias/app"])),
        ),
        (ROLE_POLICY, with_policy(allow("s3:GetObject", "arn:aws:s3:::b/*"))),
        (soc2_rules.SG_INGRESS_RULE, ingress("203.0.113.0/24")),
        (soc2_rules.SG_INGRESS_RULE, ingress("198.51.0.0/16")),
        (soc2_rules.SG_INGRESS_RULE, ingress("2001:db8:1::/48")),
        (soc2_rules.SG_INGRESS_RULE, ingress("10.0.0.0/8", 5432)),
        (
            soc2_rules.SG_INGRESS_RULE,
            {**SSH_FROM_ADMINS, "cidrIpv4": None, "referencedSecurityGroupId": "sg-1"},
        ),
    ],
    ids=[
        "dev key 7-day window",
        "dev database single-AZ",
        "staging NLB",
        "key policy pinned to the account",
        "key policy pinned to a role ARN",
        "key policy pinned to the org",
        "decrypt on named keys",
        "bucket read",
        "SSH from a /24",
        "SSH from a /16",
        "SSH from an IPv6 /48",
        "postgres from the private range",
        "SSH from a security group",
    ],
)
def test_narrow_or_non_prod_cases_pass(resource_type: str, props: dict[str, Any]) -> None:
    assert analyze(resource_type, {k: v for k, v in props.items() if v is not None}) == []


def test_a_replica_inherits_its_port() -> None:
    replica = db(engine=None, port=None, replicateSourceDb="db-1")
    assert "rds-no-default-port" not in {f.policy for f in analyze(soc2_rules.RDS_INSTANCE, replica)}


def test_a_value_unknown_during_preview_is_not_judged() -> None:
    """The engine turns the unknown into an advisory 'can't run during preview', never a violation."""
    findings = analyze(soc2_rules.RDS_INSTANCE, db(kmsKeyId=UNKNOWN_STRING_VALUE))
    assert [(f.policy, f.level) for f in findings] == [("rds-storage-encrypted-cmk", ADVISORY)]
    assert "can't be known during preview" in findings[0].message


def test_security_group_with_inline_ingress_does_not_crash_the_engine() -> None:
    """`_ListProxy` has no `.get`: the old rule raised AttributeError here, aborting the preview."""
    props = {"ingress": [{"cidrBlocks": ["0.0.0.0/0"], "fromPort": 22, "toPort": 22, "protocol": "tcp"}]}
    assert [f.policy for f in analyze(soc2_rules.SECURITY_GROUP, props)] == [
        "ec2-no-world-ingress-except-web"
    ]


# --- stack rules -----------------------------------------------------------------------------------


def stack_findings(run: Iterable[Recorded], policy_name: str) -> list[Finding]:
    return [f for f in analyze_stack(run) if f.policy == policy_name]


def test_vpc_without_flow_log_is_reported(dev: StackRun) -> None:
    findings = stack_findings((r for r in dev if r.type != soc2_rules.FLOW_LOG), "ec2-vpc-flow-logs-enabled")
    assert [(f.resource, f.text) for f in findings] == [("network-vpc", "VPC network-vpc has no flow log")]


def test_flow_log_on_another_vpc_does_not_count(dev: StackRun) -> None:
    other = Recorded(soc2_rules.VPC, "other-vpc", {"cidrBlock": "10.9.0.0/16"}, "other-vpc-id")
    assert [f.resource for f in stack_findings([*dev, other], "ec2-vpc-flow-logs-enabled")] == ["other-vpc"]


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        (soc2_rules.S3_PUBLIC_ACCESS_BLOCK, r"lacks a full public access block \[FSBP S3.8\]"),
        (soc2_rules.S3_ENCRYPTION[0], r"lacks SSE-KMS default encryption with a customer key \[FSBP S3.17\]"),
        (soc2_rules.S3_POLICY, r"lacks a policy denying plain HTTP \[FSBP S3.5\]"),
        (soc2_rules.S3_LIFECYCLE[0], r"lacks an enabled lifecycle rule \[FSBP S3.13\]"),
        (soc2_rules.S3_OWNERSHIP, r"lacks disabled ACLs \(BucketOwnerEnforced\) \[FSBP S3.12\]"),
    ],
)
def test_bucket_without_each_guard_is_reported(dev: StackRun, missing: str, message: str) -> None:
    versioned = Recorded(
        soc2_rules.S3_VERSIONING[0],
        "versioning",
        {"bucket": "ssm-transfer-bucket-id", "versioningConfiguration": {"status": "Enabled"}},
        "versioning-id",
    )
    complete = [*dev, versioned]
    assert stack_findings(complete, "s3-buckets-guarded") == []
    findings = stack_findings([r for r in complete if r.type != missing], "s3-buckets-guarded")
    # Every bucket of the stack loses that guard; each is named on its own.
    assert {f.resource for f in findings} == {r.name for r in complete if r.type in soc2_rules.S3_BUCKETS}
    [finding] = [f for f in findings if f.resource == "ssm-transfer-bucket"]
    assert re.search(message, finding.text), finding


def test_guards_of_another_bucket_do_not_count(dev: StackRun) -> None:
    other = Recorded("aws:s3/bucket:Bucket", "other-bucket", {"bucket": "other"}, "other")
    assert {f.resource for f in stack_findings([*dev, other], "s3-buckets-guarded")} == {
        "other-bucket",
    }


def _secret(tags: dict[str, str] | None = None) -> Recorded:
    return Recorded(
        soc2_rules.SECRET, "s", {**GOOD_SECRET, **({"tags": tags} if tags is not None else {})}, "s-id"
    )


@pytest.mark.parametrize(
    ("resources", "mandatory", "advisory"),
    [
        ([_secret()], "no SecretRotation and no RotationExempt tag", None),
        ([_secret({"RotationExempt": "   "})], "empty RotationExempt tag", None),
        (
            [_secret({"RotationExempt": "HMAC key: rotating it invalidates every blind index"})],
            None,
            "is not rotated: HMAC key: rotating it invalidates every blind index",
        ),
        (
            [_secret(), Recorded(soc2_rules.SECRET_ROTATION, "rot", {"secretId": "s-id"}, "rot-id")],
            None,
            None,
        ),
        (
            [_secret(), Recorded(soc2_rules.SECRET_ROTATION, "rot", {"secretId": "other"}, "rot-id")],
            "no SecretRotation",
            None,
        ),
    ],
    ids=["neither", "empty reason", "exempt with reason", "rotated", "rotation of another secret"],
)
def test_secret_rotation(resources: list[Recorded], mandatory: str | None, advisory: str | None) -> None:
    findings = analyze_stack(resources)
    for level, policy_name, expected in (
        (MANDATORY, "secretsmanager-rotation", mandatory),
        (ADVISORY, "secretsmanager-rotation-exemptions", advisory),
    ):
        found = [f for f in findings if f.level == level]
        if expected is None:
            assert found == []
        else:
            [finding] = found
            assert finding.policy == policy_name
            assert re.search(expected, finding.text), finding


NLB = Recorded(soc2_rules.LOAD_BALANCERS[0], "nlb", {"enableDeletionProtection": True}, "nlb-id")
HOST = Recorded(soc2_rules.EC2_INSTANCE, "host", {"associatePublicIpAddress": False}, "i-1")


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (
            [NLB, HOST, Recorded(soc2_rules.EIP, "eip", {"instance": "i-1"}, "eip-id")],
            "instance host behind a load balancer has Elastic IP eip",
        ),
        (
            [NLB, HOST, Recorded(soc2_rules.EIP_ASSOCIATION, "assoc", {"instanceId": "i-1"}, "assoc-id")],
            "instance host behind a load balancer has Elastic IP assoc",
        ),
        (
            [NLB, Recorded(soc2_rules.EC2_INSTANCE, "host", {"associatePublicIpAddress": True}, "i-1")],
            "instance host behind a load balancer has a public IP",
        ),
        (
            [HOST, Recorded(soc2_rules.EIP, "eip", {"instance": "i-1"}, "eip-id")],
            None,
        ),  # single host: its EIP
        ([NLB, HOST, Recorded(soc2_rules.EIP, "nat-eip", {"domain": "vpc"}, "nat-eip-id")], None),
    ],
    ids=["EIP", "EIP association", "public IP", "single host keeps its EIP", "NAT EIP"],
)
def test_public_ip_behind_load_balancer(resources: list[Recorded], message: str | None) -> None:
    findings = stack_findings(resources, "ec2-no-public-ip-behind-load-balancer")
    assert [f.text for f in findings] == ([message] if message else [])


def test_stack_rules_judge_references_by_dependency_while_ids_are_unknown(prod: StackRun) -> None:
    """In a first preview every id is unknown: the stack rules still pair flow logs, bucket guards,
    rotations and EIPs with their targets, instead of being skipped or reporting false violations."""
    assert analyze_stack(prod, preview=True) == analyze_stack(prod)
    key_unknown = [
        Recorded(
            r.type,
            r.name,
            {
                **r.inputs,
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {
                            "sseAlgorithm": "aws:kms",
                            "kmsMasterKeyId": UNKNOWN_STRING_VALUE,
                        }
                    }
                ],
            },
            r.id,
        )
        if r.type in soc2_rules.S3_ENCRYPTION
        else r
        for r in prod
    ]
    assert analyze_stack(key_unknown, preview=True) == analyze_stack(prod)
    without_flow_log = [r for r in prod if r.type != soc2_rules.FLOW_LOG]
    assert "ec2-vpc-flow-logs-enabled" in {f.policy for f in analyze_stack(without_flow_log, preview=True)}


# --- citations -------------------------------------------------------------------------------------

# Written from the FSBP control list (AWS Security Hub docs) and the policies that exist in
# pulumi/pulumi-policy-aws (awsguard); a rule citing anything else fails here.
EXPECTED_CITATIONS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "kms-key-rotation-enabled": (("KMS.4",), "cmk-backing-key-rotation-enabled"),
    "kms-key-deletion-window-in-prod": (("KMS.3",), None),
    "kms-key-no-lockout-bypass": ((), None),
    "kms-key-policy-least-privilege": (("KMS.5",), None),
    "iam-no-admin-policies": (("IAM.1",), None),
    "iam-no-admin-managed-policies": ((), None),
    "iam-no-service-wildcard-actions": (("IAM.21",), None),
    "iam-no-decrypt-on-all-keys": (("KMS.1", "KMS.2"), None),
    "iam-no-user-policies": (("IAM.2",), None),
    "iam-role-trust-not-public": ((), None),
    "secretsmanager-secret-cmk": ((), None),
    "secretsmanager-recovery-window": ((), None),
    "secretsmanager-description": ((), None),
    "secretsmanager-policy-not-public": ((), None),
    "rds-storage-encrypted-cmk": (("RDS.3",), "rds-storage-encrypted"),
    "rds-not-publicly-accessible": (("RDS.2",), "rds-instance-public-access-check"),
    "rds-backup-retention-7-days": (("RDS.11",), "rds-instance-backup-enabled"),
    "rds-enhanced-monitoring": (("RDS.6",), None),
    "rds-iam-authentication": (("RDS.10", "RDS.12"), None),
    "rds-log-exports": (("RDS.9",), None),
    "rds-auto-minor-version-upgrade": (("RDS.13",), None),
    "rds-copy-tags-to-snapshots": (("RDS.17", "RDS.16"), None),
    "rds-custom-admin-username": (("RDS.25", "RDS.24"), None),
    "rds-no-default-port": (("RDS.23",), None),
    "rds-final-snapshot": ((), None),
    "rds-managed-master-password": ((), None),
    "rds-performance-insights-cmk": ((), None),
    "rds-custom-parameter-group": ((), None),
    "rds-multi-az-in-prod": (("RDS.5",), None),
    "rds-deletion-protection-in-prod": (("RDS.8", "RDS.7"), None),
    "rds-postgres-security-parameters": ((), None),
    "ec2-imdsv2-required": (("EC2.8", "EC2.170"), None),
    "ec2-volumes-encrypted-cmk": (("EC2.3",), "encrypted-volumes"),
    "ec2-detailed-monitoring": ((), "ec2-instance-detailed-monitoring-enabled"),
    "ec2-instance-profile": (("SSM.1",), None),
    "ec2-subnet-no-auto-public-ip": (("EC2.15",), None),
    "ec2-default-security-group-closed": (("EC2.2",), None),
    "ec2-no-world-ingress-except-web": (("EC2.13", "EC2.14", "EC2.18", "EC2.19", "EC2.53", "EC2.54"), None),
    "ec2-flow-log-all-traffic": (("EC2.6",), None),
    "elb-deletion-protection-in-prod": (("ELB.6",), "elb-deletion-protection-enabled"),
    "s3-bucket-public-access-blocked": (("S3.8",), None),
    "s3-bucket-encrypted-cmk": (("S3.17",), None),
    "s3-bucket-policy-tls-only": (("S3.5",), None),
    "sns-topic-encrypted-cmk": ((), None),
    "sns-topic-policy-not-public": ((), None),
    "cloudwatch-log-group-encrypted-cmk": ((), None),
    "cloudwatch-log-group-retention-365-days": (("CloudWatch.16",), None),
}
EXPECTED_STACK_CITATIONS = {
    "ec2-vpc-flow-logs-enabled": ("EC2.6",),
    "s3-buckets-guarded": ("S3.8", "S3.17", "S3.5", "S3.14", "S3.13", "S3.12"),
    "secretsmanager-rotation": ("SecretsManager.1",),
    "secretsmanager-rotation-exemptions": ("SecretsManager.1",),
    "ec2-no-public-ip-behind-load-balancer": ("EC2.9",),
}
SOC2_CRITERIA = re.compile(r"^(CC[1-9]\.[1-9]|A1\.[1-3]|C1\.[12]|PI1\.[1-5]|P[1-8]\.[1-6])$")


def test_each_rule_cites_exactly_the_written_fsbp_and_awsguard_ids() -> None:
    assert {r.name: (r.fsbp, r.awsguard) for r in RULES} == EXPECTED_CITATIONS
    assert {r.name: r.fsbp for r in STACK_RULES} == EXPECTED_STACK_CITATIONS


def test_each_rule_serves_a_soc2_criterion() -> None:
    every_rule: list[soc2_rules.Rule | soc2_rules.StackRule] = [*RULES, *STACK_RULES]
    for rule in every_rule:
        assert rule.soc2, rule.name
        assert all(SOC2_CRITERIA.match(c) for c in rule.soc2), (rule.name, rule.soc2)


def test_violation_messages_carry_the_citations() -> None:
    [finding] = analyze(soc2_rules.RDS_INSTANCE, db(port=5432))
    assert finding.message.endswith("[FSBP RDS.23; SOC2 CC6.6]")
    [finding] = analyze(soc2_rules.RDS_INSTANCE, db(storageEncrypted=False))
    assert finding.message.endswith("[FSBP RDS.3; awsguard rds-storage-encrypted; SOC2 CC6.1, C1.1]")


def test_pack_has_a_policy_per_rule() -> None:
    names = [p.name for p in build_policies()]
    assert sorted(names) == sorted([r.name for r in RULES] + [r.name for r in STACK_RULES])
    assert len(set(names)) == len(names)
