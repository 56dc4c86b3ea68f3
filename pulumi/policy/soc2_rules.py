"""SOC2 AWS rules for any Pulumi stack: encryption, rotation, exposure, backup and logging.

Each rule cites the AWS Foundational Security Best Practices (FSBP) control and/or the
@pulumi/awsguard policy it implements; rules marked "soc2kit" fill gaps those two leave
(rds.force_ssl, IMDSv2 on launch templates, log group encryption and minimum retention, ...).

Rules see resource inputs by their engine names (camelCase), exactly as `pulumi preview --policy-pack`
passes them. A value still unknown during preview (a computed output) is not judged.
This module is importable without starting the policy server; `__main__.py` only builds the pack.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

Props = Mapping[str, Any]
Check = Callable[[Props], Iterator[str]]

KMS_KEY = "aws:kms/key:Key"
RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
SECRET = "aws:secretsmanager/secret:Secret"  # noqa: S105 a type token
SECRET_POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"  # noqa: S105 a type token
EC2_INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EBS_VOLUME = "aws:ebs/volume:Volume"
SUBNET = "aws:ec2/subnet:Subnet"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
S3_BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
S3_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
PUBLIC_ACCESS_SETTINGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
IAM_ROLE = "aws:iam/role:Role"
IAM_POLICY_TYPES = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
IAM_USER_ATTACHMENTS = ("aws:iam/userPolicy:UserPolicy", "aws:iam/userPolicyAttachment:UserPolicyAttachment")

WORLD = ("0.0.0.0/0", "::/0")
PORTS_OPEN_TO_WORLD = frozenset({80, 443})  # TLS terminates on the hosts; nothing else faces the internet
DEFAULT_DB_USERNAMES = frozenset({"postgres", "admin", "administrator", "root", "master", "rdsadmin", "user"})
MIN_BACKUP_DAYS = 7
MIN_LOG_RETENTION_DAYS = 90
PROD_TAG_VALUES = frozenset({"prod", "production"})


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    resource_types: tuple[str, ...]
    check: Check
    references: str


# --- helpers ---------------------------------------------------------------------------------------


def _known(value: Any) -> bool:
    """False for values the engine has not computed yet (preview): never judge those."""
    return value is not None and not (
        isinstance(value, str) and value.startswith("04da6b54-80e4-46f7-96ec-b56ff0331ba9")
    )


def _number(value: Any) -> float | None:
    """A known numeric value, or None (absent or not computed yet)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _is_prod(props: Props) -> bool:
    tags = props.get("tags") or {}
    return str(tags.get("Environment", tags.get("environment", ""))).lower() in PROD_TAG_VALUES


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _statements(document: Any) -> list[Mapping[str, Any]]:
    """Statements of an IAM/KMS/resource policy given as JSON text or as an object."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return []
    if not isinstance(document, Mapping):
        return []
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, Mapping)]


def _allows(statement: Mapping[str, Any]) -> bool:
    return statement.get("Effect") == "Allow"


def _actions(statement: Mapping[str, Any]) -> list[str]:
    return [str(a) for a in _as_list(statement.get("Action"))]


def _resources(statement: Mapping[str, Any]) -> list[str]:
    return [str(r) for r in _as_list(statement.get("Resource"))]


def _public_principal(statement: Mapping[str, Any]) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    return isinstance(principal, Mapping) and "*" in _as_list(principal.get("AWS"))


def _sid(statement: Mapping[str, Any]) -> str:
    return str(statement.get("Sid", "(no Sid)"))


# --- KMS -------------------------------------------------------------------------------------------


def kms_key_rotation(props: Props) -> Iterator[str]:
    spec = props.get("customerMasterKeySpec") or "SYMMETRIC_DEFAULT"
    if spec == "SYMMETRIC_DEFAULT" and props.get("enableKeyRotation") is not True:
        yield "KMS key must have automatic rotation enabled (enableKeyRotation: true)"


def kms_deletion_window(props: Props) -> Iterator[str]:
    days = props.get("deletionWindowInDays")
    if _known(days) and days != 30:
        yield f"KMS key deletion window is {days} days; use 30 so a mistaken deletion can be cancelled"


def kms_no_lockout_bypass(props: Props) -> Iterator[str]:
    if props.get("bypassPolicyLockoutSafetyCheck") is True:
        yield "KMS key must not bypass the policy lockout safety check"


def kms_key_policy_least_privilege(props: Props) -> Iterator[str]:
    policy = props.get("policy")
    if not _known(policy):
        if policy is None:
            yield "KMS key must carry an explicit key policy (the default grants kms:* to the whole account)"
        return
    for statement in _statements(policy):
        if not _allows(statement):
            continue
        if _public_principal(statement) and not statement.get("Condition"):
            yield f"key policy statement {_sid(statement)} allows any principal without a condition"
        if {"kms:*", "*"} & set(_actions(statement)):
            yield f"key policy statement {_sid(statement)} allows kms:*; grant only what is needed"


# --- IAM -------------------------------------------------------------------------------------------


def iam_no_admin(props: Props) -> Iterator[str]:
    for statement in _statements(props.get("policy")):
        if _allows(statement) and "*" in _actions(statement) and "*" in _resources(statement):
            yield f"IAM statement {_sid(statement)} grants full admin access (* on *)"


def iam_no_service_wildcards(props: Props) -> Iterator[str]:
    for statement in _statements(props.get("policy")):
        wildcards = [a for a in _actions(statement) if a.endswith(":*")]
        if _allows(statement) and wildcards:
            yield f"IAM statement {_sid(statement)} allows every action of a service: {', '.join(wildcards)}"


def iam_no_decrypt_on_all_keys(props: Props) -> Iterator[str]:
    risky = {"kms:decrypt", "kms:reencryptfrom", "kms:*", "*"}
    for statement in _statements(props.get("policy")):
        if (
            _allows(statement)
            and {a.lower() for a in _actions(statement)} & risky
            and "*" in _resources(statement)
        ):
            yield f"IAM statement {_sid(statement)} allows kms:Decrypt on all KMS keys; name them"


def iam_no_user_policies(props: Props) -> Iterator[str]:
    yield "attach IAM policies to roles or groups, not directly to users"


def iam_trust_not_public(props: Props) -> Iterator[str]:
    for statement in _statements(props.get("assumeRolePolicy")):
        if _allows(statement) and _public_principal(statement) and not statement.get("Condition"):
            yield f"role trust statement {_sid(statement)} lets any AWS principal assume the role"


# --- Secrets Manager -------------------------------------------------------------------------------


def secret_cmk(props: Props) -> Iterator[str]:
    if not props.get("kmsKeyId"):
        yield "secret must be encrypted with a customer-managed KMS key (kmsKeyId), not aws/secretsmanager"


def secret_recovery_window(props: Props) -> Iterator[str]:
    days = props.get("recoveryWindowInDays")
    if (known := _number(days)) is not None and known < 7:
        yield f"secret recovery window is {days} days; use 7-30 so a deleted secret can be restored"


def secret_description(props: Props) -> Iterator[str]:
    if not props.get("description"):
        yield "secret needs a description saying what it holds and who reads it"


def secret_policy_not_public(props: Props) -> Iterator[str]:
    if props.get("blockPublicPolicy") is False:
        yield "secret policy must keep blockPublicPolicy enabled"
    for statement in _statements(props.get("policy")):
        if _allows(statement) and _public_principal(statement) and not statement.get("Condition"):
            yield f"secret policy statement {_sid(statement)} lets any principal act on the secret"


# --- RDS -------------------------------------------------------------------------------------------


def rds_storage_encrypted_cmk(props: Props) -> Iterator[str]:
    if props.get("storageEncrypted") is not True:
        yield "database storage must be encrypted (storageEncrypted: true)"
    elif not props.get("kmsKeyId"):
        yield "database storage must use a customer-managed KMS key (kmsKeyId)"


def rds_not_public(props: Props) -> Iterator[str]:
    if props.get("publiclyAccessible") is True:
        yield "database must not be publicly accessible"


def rds_backups(props: Props) -> Iterator[str]:
    days = props.get("backupRetentionPeriod")
    if days is None or ((known := _number(days)) is not None and known < MIN_BACKUP_DAYS):
        yield f"automated backups must be kept at least {MIN_BACKUP_DAYS} days (it is {days})"


def rds_enhanced_monitoring(props: Props) -> Iterator[str]:
    interval = props.get("monitoringInterval")
    if not interval:
        yield "enhanced monitoring must be on (monitoringInterval > 0 with a monitoringRoleArn)"


def rds_iam_auth(props: Props) -> Iterator[str]:
    if props.get("iamDatabaseAuthenticationEnabled") is not True:
        yield "IAM database authentication must be enabled"


def rds_log_exports(props: Props) -> Iterator[str]:
    engine = str(props.get("engine", ""))
    exports = set(_as_list(props.get("enabledCloudwatchLogsExports")))
    wanted = {"postgresql", "upgrade"} if engine.startswith(("postgres", "aurora-postgresql")) else {"error"}
    if missing := wanted - exports:
        yield f"database logs must be exported to CloudWatch Logs; missing {', '.join(sorted(missing))}"


def rds_minor_upgrades(props: Props) -> Iterator[str]:
    if props.get("autoMinorVersionUpgrade") is False:
        yield "automatic minor version upgrades must stay on (security patches)"


def rds_copy_tags(props: Props) -> Iterator[str]:
    if props.get("copyTagsToSnapshot") is not True:
        yield "copyTagsToSnapshot must be true so snapshots keep their classification tags"


def rds_custom_admin(props: Props) -> Iterator[str]:
    username = props.get("username")
    if _known(username) and str(username).lower() in DEFAULT_DB_USERNAMES:
        yield f"database admin user name {username!r} is a default; choose another"


def rds_final_snapshot(props: Props) -> Iterator[str]:
    if props.get("skipFinalSnapshot") is True:
        yield "deleting the database must take a final snapshot (skipFinalSnapshot: false)"


def rds_managed_password(props: Props) -> Iterator[str]:
    if props.get("password") or props.get("passwordWo"):
        yield "the master password must not be set in code or state; use manageMasterUserPassword"
    elif props.get("manageMasterUserPassword") is not True and not props.get("replicateSourceDb"):
        yield "let RDS manage the master password in Secrets Manager (manageMasterUserPassword: true)"


def rds_performance_insights_cmk(props: Props) -> Iterator[str]:
    if props.get("performanceInsightsEnabled") is True and not props.get("performanceInsightsKmsKeyId"):
        yield "Performance Insights data must be encrypted with a customer-managed key"


def rds_custom_parameter_group(props: Props) -> Iterator[str]:
    group = props.get("parameterGroupName")
    if group is None or (_known(group) and str(group).startswith("default.")):
        yield "database must use its own parameter group (the default cannot force TLS)"


def rds_prod_multi_az(props: Props) -> Iterator[str]:
    if _is_prod(props) and props.get("multiAz") is not True:
        yield "production databases must be Multi-AZ"


def rds_prod_deletion_protection(props: Props) -> Iterator[str]:
    if _is_prod(props) and props.get("deletionProtection") is not True:
        yield "production databases must have deletion protection"


def _postgres_parameters(props: Props) -> dict[str, str] | None:
    if not str(props.get("family", "")).startswith(("postgres", "aurora-postgresql")):
        return None
    return {
        str(p.get("name")): str(p.get("value"))
        for p in _as_list(props.get("parameters"))
        if isinstance(p, Mapping)
    }


def rds_force_ssl(props: Props) -> Iterator[str]:
    parameters = _postgres_parameters(props)
    if parameters is not None and parameters.get("rds.force_ssl") != "1":
        yield "PostgreSQL parameter group must set rds.force_ssl = 1 (TLS for every connection)"


def rds_connection_logging(props: Props) -> Iterator[str]:
    parameters = _postgres_parameters(props)
    if parameters is None:
        return
    for name in ("log_connections", "log_disconnections"):
        if parameters.get(name) != "1":
            yield f"PostgreSQL parameter group must set {name} = 1"


# --- EC2 / VPC -------------------------------------------------------------------------------------


def ec2_imdsv2(props: Props) -> Iterator[str]:
    options = props.get("metadataOptions") or {}
    if options.get("httpEndpoint") != "disabled" and options.get("httpTokens") != "required":
        yield "instance metadata must require IMDSv2 tokens (metadataOptions.httpTokens: required)"


def ec2_volumes_encrypted_cmk(props: Props) -> Iterator[str]:
    devices: list[tuple[str, Mapping[str, Any]]] = []
    if "blockDeviceMappings" in props:  # launch template
        mappings = _as_list(props.get("blockDeviceMappings"))
        devices += [(f"volume {m.get('deviceName', '?')}", m.get("ebs") or {}) for m in mappings]
    elif {"ami", "instanceType", "rootBlockDevice", "launchTemplate"} & set(props):  # instance
        devices.append(("root volume", props.get("rootBlockDevice") or {}))
        devices += [(f"volume {d.get('deviceName', '?')}", d) for d in _as_list(props.get("ebsBlockDevices"))]
    else:  # aws.ebs.Volume
        devices.append(("volume", props))
    for label, device in devices:
        if device.get("encrypted") not in (True, "true"):
            yield f"{label} must be encrypted"
        elif not device.get("kmsKeyId"):
            yield f"{label} must be encrypted with a customer-managed KMS key (kmsKeyId)"


def ec2_detailed_monitoring(props: Props) -> Iterator[str]:
    if props.get("monitoring") is not True:
        yield "instance must have detailed monitoring (monitoring: true)"


def ec2_instance_profile(props: Props) -> Iterator[str]:
    if not props.get("iamInstanceProfile"):
        yield "instance needs an instance profile (SSM management, no long-lived keys on the host)"


def ec2_subnet_no_auto_public_ip(props: Props) -> Iterator[str]:
    if props.get("mapPublicIpOnLaunch") is True:
        yield "subnet must not assign public IPs automatically (mapPublicIpOnLaunch: false)"


def ec2_default_sg_closed(props: Props) -> Iterator[str]:
    if props.get("ingress") or props.get("egress"):
        yield "the default security group must have no rules"


def _world_ports(from_port: Any, to_port: Any, protocol: Any) -> str | None:
    """Describe a world-open port range that is not HTTP/HTTPS, or None if it is fine."""
    if str(protocol) in ("-1", "all"):
        return "all traffic"
    low, high = int(from_port or 0), int(to_port or 0)
    if low == high and low in PORTS_OPEN_TO_WORLD:
        return None
    return f"ports {low}-{high}"


def _opens_to_world(rule: Mapping[str, Any]) -> bool:
    sources = set(_as_list(rule.get("cidrBlocks"))) | set(_as_list(rule.get("ipv6CidrBlocks")))
    return bool(sources & set(WORLD))


def ec2_no_world_ingress(props: Props) -> Iterator[str]:
    rules: list[Mapping[str, Any]] = []
    if "cidrIpv4" in props or "cidrIpv6" in props:  # aws.vpc.SecurityGroupIngressRule
        if props.get("cidrIpv4") in WORLD or props.get("cidrIpv6") in WORLD:
            rules.append(
                {
                    "fromPort": props.get("fromPort"),
                    "toPort": props.get("toPort"),
                    "protocol": props.get("ipProtocol"),
                }
            )
    elif "type" in props:  # aws.ec2.SecurityGroupRule
        if props.get("type") == "ingress" and _opens_to_world(props):
            rules.append(props)
    else:  # inline ingress on aws.ec2.SecurityGroup
        rules += [rule for rule in _as_list(props.get("ingress")) if _opens_to_world(rule)]
    for rule in rules:
        if (
            ports := _world_ports(rule.get("fromPort"), rule.get("toPort"), rule.get("protocol"))
        ) is not None:
            yield f"{ports} open to the internet; only 80 and 443 may be (SSH from an admin CIDR or SSM)"


def ec2_flow_log_all_traffic(props: Props) -> Iterator[str]:
    if props.get("trafficType") != "ALL":
        yield f"flow log must capture ALL traffic, not {props.get('trafficType')}"


def elb_prod_deletion_protection(props: Props) -> Iterator[str]:
    if _is_prod(props) and props.get("enableDeletionProtection") is not True:
        yield "production load balancers must have deletion protection"


# --- CloudWatch Logs -------------------------------------------------------------------------------


def logs_encrypted_cmk(props: Props) -> Iterator[str]:
    if not props.get("kmsKeyId"):
        yield "log group must be encrypted with a customer-managed KMS key (kmsKeyId)"


def logs_retention(props: Props) -> Iterator[str]:
    days = props.get("retentionInDays")
    if days is None or days == 0:
        yield f"log group needs an explicit retention of at least {MIN_LOG_RETENTION_DAYS} days"
    elif (known := _number(days)) is not None and known < MIN_LOG_RETENTION_DAYS:
        yield f"log group keeps logs {days} days; at least {MIN_LOG_RETENTION_DAYS} are required"


# --- S3 ------------------------------------------------------------------------------------------


def s3_public_access_blocked(props: Props) -> Iterator[str]:
    if off := [s for s in PUBLIC_ACCESS_SETTINGS if props.get(s) is not True]:
        yield f"bucket public access block must enable all four settings; off: {', '.join(off)}"


def s3_encrypted_cmk(props: Props) -> Iterator[str]:
    rules = [r for r in _as_list(props.get("rules")) if isinstance(r, Mapping)]
    defaults = [r.get("applyServerSideEncryptionByDefault") or {} for r in rules]
    if not any(
        d.get("sseAlgorithm") in ("aws:kms", "aws:kms:dsse") and d.get("kmsMasterKeyId") for d in defaults
    ):
        yield "bucket default encryption must be SSE-KMS with a customer-managed key (kmsMasterKeyId)"


def _denies_plain_http(policy: Any) -> bool:
    for statement in _statements(policy):
        condition = statement.get("Condition") or {}
        secure = (condition.get("Bool") or {}).get("aws:SecureTransport")
        if statement.get("Effect") == "Deny" and str(secure).lower() == "false":
            return True
    return False


def s3_policy_tls_only(props: Props) -> Iterator[str]:
    if _known(props.get("policy")) and not _denies_plain_http(props.get("policy")):
        yield "bucket policy must deny requests without TLS (aws:SecureTransport = false)"
    for statement in _statements(props.get("policy")):
        if _allows(statement) and _public_principal(statement) and not statement.get("Condition"):
            yield f"bucket policy statement {_sid(statement)} lets anyone act on the bucket"


RULES: tuple[Rule, ...] = (
    Rule(
        "kms-key-rotation-enabled",
        "KMS keys rotate automatically",
        (KMS_KEY,),
        kms_key_rotation,
        "FSBP KMS.4",
    ),
    Rule(
        "kms-key-deletion-window-30-days",
        "KMS key deletion waits 30 days",
        (KMS_KEY,),
        kms_deletion_window,
        "FSBP KMS.3, soc2kit",
    ),
    Rule(
        "kms-key-no-lockout-bypass",
        "KMS keys keep the lockout safety check",
        (KMS_KEY,),
        kms_no_lockout_bypass,
        "soc2kit",
    ),
    Rule(
        "kms-key-policy-least-privilege",
        "Explicit key policy, no public or kms:* grants",
        (KMS_KEY,),
        kms_key_policy_least_privilege,
        "FSBP KMS.5, soc2kit",
    ),
    Rule(
        "iam-no-admin-policies",
        "No IAM policy grants * on *",
        IAM_POLICY_TYPES,
        iam_no_admin,
        "FSBP IAM.1, awsguard iam-no-admin-policies",
    ),
    Rule(
        "iam-no-service-wildcard-actions",
        "No IAM policy grants service:*",
        IAM_POLICY_TYPES,
        iam_no_service_wildcards,
        "FSBP IAM.21",
    ),
    Rule(
        "iam-no-decrypt-on-all-keys",
        "No kms:Decrypt on every key",
        IAM_POLICY_TYPES,
        iam_no_decrypt_on_all_keys,
        "FSBP KMS.1, KMS.2",
    ),
    Rule(
        "iam-no-user-policies",
        "Policies attach to roles or groups, not users",
        IAM_USER_ATTACHMENTS,
        iam_no_user_policies,
        "FSBP IAM.2",
    ),
    Rule(
        "iam-role-trust-not-public",
        "No role may be assumed by anyone",
        (IAM_ROLE,),
        iam_trust_not_public,
        "soc2kit",
    ),
    Rule(
        "secretsmanager-secret-cmk",
        "Secrets encrypted with a customer-managed key",
        (SECRET,),
        secret_cmk,
        "soc2kit (FSBP lacks it)",
    ),
    Rule(
        "secretsmanager-recovery-window",
        "Deleted secrets recoverable for >= 7 days",
        (SECRET,),
        secret_recovery_window,
        "soc2kit",
    ),
    Rule(
        "secretsmanager-description", "Secrets say what they hold", (SECRET,), secret_description, "soc2kit"
    ),
    Rule(
        "secretsmanager-policy-not-public",
        "Secret policies are not public",
        (SECRET, SECRET_POLICY),
        secret_policy_not_public,
        "soc2kit",
    ),
    Rule(
        "rds-storage-encrypted-cmk",
        "Database storage encrypted with a CMK",
        (RDS_INSTANCE, RDS_CLUSTER),
        rds_storage_encrypted_cmk,
        "FSBP RDS.3, awsguard rds-instance-storage-encrypted",
    ),
    Rule(
        "rds-not-publicly-accessible",
        "Database not publicly accessible",
        (RDS_INSTANCE,),
        rds_not_public,
        "FSBP RDS.2, awsguard rds-instance-public-access-check",
    ),
    Rule(
        "rds-backup-retention-7-days",
        "Automated backups kept >= 7 days",
        (RDS_INSTANCE, RDS_CLUSTER),
        rds_backups,
        "FSBP RDS.11, awsguard rds-instance-backup-enabled",
    ),
    Rule(
        "rds-enhanced-monitoring",
        "Enhanced monitoring on",
        (RDS_INSTANCE,),
        rds_enhanced_monitoring,
        "FSBP RDS.6",
    ),
    Rule(
        "rds-iam-authentication",
        "IAM database authentication on",
        (RDS_INSTANCE, RDS_CLUSTER),
        rds_iam_auth,
        "FSBP RDS.10, RDS.12",
    ),
    Rule(
        "rds-log-exports",
        "Database logs exported to CloudWatch",
        (RDS_INSTANCE,),
        rds_log_exports,
        "FSBP RDS.9",
    ),
    Rule(
        "rds-auto-minor-version-upgrade",
        "Minor version upgrades automatic",
        (RDS_INSTANCE,),
        rds_minor_upgrades,
        "FSBP RDS.13",
    ),
    Rule(
        "rds-copy-tags-to-snapshots",
        "Snapshots keep tags",
        (RDS_INSTANCE, RDS_CLUSTER),
        rds_copy_tags,
        "FSBP RDS.17, RDS.16",
    ),
    Rule(
        "rds-custom-admin-username",
        "No default admin user name",
        (RDS_INSTANCE, RDS_CLUSTER),
        rds_custom_admin,
        "FSBP RDS.25",
    ),
    Rule(
        "rds-final-snapshot",
        "Final snapshot on delete",
        (RDS_INSTANCE, RDS_CLUSTER),
        rds_final_snapshot,
        "soc2kit",
    ),
    Rule(
        "rds-managed-master-password",
        "Master password managed by RDS, never in state",
        (RDS_INSTANCE,),
        rds_managed_password,
        "soc2kit",
    ),
    Rule(
        "rds-performance-insights-cmk",
        "Performance Insights encrypted with a CMK",
        (RDS_INSTANCE,),
        rds_performance_insights_cmk,
        "soc2kit",
    ),
    Rule(
        "rds-custom-parameter-group",
        "Own parameter group (so TLS can be forced)",
        (RDS_INSTANCE,),
        rds_custom_parameter_group,
        "soc2kit",
    ),
    Rule(
        "rds-multi-az-in-prod",
        "Production databases Multi-AZ",
        (RDS_INSTANCE,),
        rds_prod_multi_az,
        "FSBP RDS.5 (Environment=prod)",
    ),
    Rule(
        "rds-deletion-protection-in-prod",
        "Production databases deletion-protected",
        (RDS_INSTANCE, RDS_CLUSTER),
        rds_prod_deletion_protection,
        "FSBP RDS.7, RDS.8 (Environment=prod)",
    ),
    Rule(
        "rds-force-ssl",
        "PostgreSQL requires TLS (rds.force_ssl=1)",
        (RDS_PARAMETER_GROUP,),
        rds_force_ssl,
        "soc2kit (FSBP/awsguard lack it)",
    ),
    Rule(
        "rds-connection-logging",
        "PostgreSQL logs connections",
        (RDS_PARAMETER_GROUP,),
        rds_connection_logging,
        "soc2kit (FSBP RDS.9 needs it)",
    ),
    Rule(
        "ec2-imdsv2-required",
        "Instances require IMDSv2",
        (EC2_INSTANCE, LAUNCH_TEMPLATE),
        ec2_imdsv2,
        "FSBP EC2.8, EC2.170, awsguard",
    ),
    Rule(
        "ec2-volumes-encrypted-cmk",
        "EBS volumes encrypted with a CMK",
        (EC2_INSTANCE, EBS_VOLUME, LAUNCH_TEMPLATE),
        ec2_volumes_encrypted_cmk,
        "FSBP EC2.3, awsguard encrypted-volumes",
    ),
    Rule(
        "ec2-detailed-monitoring",
        "Instances have detailed monitoring",
        (EC2_INSTANCE,),
        ec2_detailed_monitoring,
        "awsguard ec2-instance-detailed-monitoring-enabled",
    ),
    Rule(
        "ec2-instance-profile",
        "Instances have an instance profile",
        (EC2_INSTANCE,),
        ec2_instance_profile,
        "FSBP SSM.1 (prerequisite)",
    ),
    Rule(
        "ec2-subnet-no-auto-public-ip",
        "Subnets do not auto-assign public IPs",
        (SUBNET,),
        ec2_subnet_no_auto_public_ip,
        "FSBP EC2.15",
    ),
    Rule(
        "ec2-default-security-group-closed",
        "Default security group has no rules",
        (DEFAULT_SG,),
        ec2_default_sg_closed,
        "FSBP EC2.2",
    ),
    Rule(
        "ec2-no-world-ingress-except-web",
        "Only 80/443 open to the internet",
        (SECURITY_GROUP, SG_RULE, SG_INGRESS_RULE),
        ec2_no_world_ingress,
        "FSBP EC2.13, EC2.14, EC2.18, EC2.19, awsguard",
    ),
    Rule(
        "ec2-flow-log-all-traffic",
        "Flow logs capture all traffic",
        (FLOW_LOG,),
        ec2_flow_log_all_traffic,
        "FSBP EC2.6",
    ),
    Rule(
        "elb-deletion-protection-in-prod",
        "Production load balancers deletion-protected",
        (LOAD_BALANCER,),
        elb_prod_deletion_protection,
        "FSBP ELB.6 (Environment=prod)",
    ),
    Rule(
        "s3-bucket-public-access-blocked",
        "Bucket public access fully blocked",
        (S3_PUBLIC_ACCESS_BLOCK,),
        s3_public_access_blocked,
        "FSBP S3.8, awsguard s3-bucket-public-read/write-prohibited",
    ),
    Rule(
        "s3-bucket-encrypted-cmk",
        "Buckets encrypted with SSE-KMS",
        S3_ENCRYPTION,
        s3_encrypted_cmk,
        "FSBP S3.17",
    ),
    Rule(
        "s3-bucket-policy-tls-only",
        "Bucket policies deny plain HTTP",
        (S3_POLICY,),
        s3_policy_tls_only,
        "FSBP S3.5",
    ),
    Rule(
        "cloudwatch-log-group-encrypted-cmk",
        "Log groups encrypted with a CMK",
        (LOG_GROUP,),
        logs_encrypted_cmk,
        "soc2kit (FSBP/awsguard lack it)",
    ),
    Rule(
        "cloudwatch-log-group-retention-90-days",
        "Log groups keep logs >= 90 days",
        (LOG_GROUP,),
        logs_retention,
        "soc2kit, awsguard cloudwatch-log-group-retention",
    ),
)


def violations(rule: Rule, resource_type: str, props: Props) -> list[str]:
    """What `rule` reports for one resource (empty when it passes or does not apply)."""
    if resource_type not in rule.resource_types:
        return []
    return list(rule.check(props))


def _resource_policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in violations(rule, args.resource_type, args.props):
            report_violation(f"{message} [{rule.references}]", None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=f"{rule.description} ({rule.references})",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


# --- stack-wide ------------------------------------------------------------------------------------


def vpc_flow_logs(resources: Iterable[Any]) -> Iterator[tuple[str, str]]:
    """Every VPC has a flow log (FSBP EC2.6). Yields (message, urn) for each VPC without one."""
    resources = list(resources)
    flow_logs = [r for r in resources if r.resource_type == FLOW_LOG]
    covered_ids = {r.props.get("vpcId") for r in flow_logs}
    covered_urns = {dep.urn for r in flow_logs for dep in r.property_dependencies.get("vpcId", [])}
    for vpc in (r for r in resources if r.resource_type == VPC):
        if vpc.urn not in covered_urns and vpc.props.get("id") not in covered_ids:
            yield f"VPC {vpc.name} has no flow log [FSBP EC2.6]", vpc.urn


def _refers_to(resource: Any, prop: str, target: Any) -> bool:
    """Whether `resource.props[prop]` names `target` (by id or name, or by engine dependency)."""
    names = {target.props.get("id"), target.props.get("bucket")} - {None}
    if resource.props.get(prop) in names:
        return True
    return any(dep.urn == target.urn for dep in resource.property_dependencies.get(prop, []))


def s3_bucket_guards(resources: Iterable[Any]) -> Iterator[tuple[str, str]]:
    """Every bucket has a full public access block, SSE-KMS and a TLS-only policy (FSBP S3.8, S3.17, S3.5)."""
    resources = list(resources)
    for bucket in (r for r in resources if r.resource_type in S3_BUCKETS):
        companions = [r for r in resources if _refers_to(r, "bucket", bucket)]
        blocks = [r for r in companions if r.resource_type == S3_PUBLIC_ACCESS_BLOCK]
        if not any(not list(s3_public_access_blocked(r.props)) for r in blocks):
            yield f"bucket {bucket.name} has no full public access block [FSBP S3.8]", bucket.urn
        encryption = [r for r in companions if r.resource_type in S3_ENCRYPTION]
        if not any(not list(s3_encrypted_cmk(r.props)) for r in encryption):
            yield f"bucket {bucket.name} has no SSE-KMS default encryption [FSBP S3.17]", bucket.urn
        policies = [r for r in companions if r.resource_type == S3_POLICY]
        if not any(_denies_plain_http(r.props.get("policy")) for r in policies):
            yield f"bucket {bucket.name} has no policy denying plain HTTP [FSBP S3.5]", bucket.urn


def _s3_bucket_guards_policy() -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for message, urn in s3_bucket_guards(args.resources):
            report_violation(message, urn)

    return StackValidationPolicy(
        name="s3-buckets-guarded",
        description="Every bucket: public access block, SSE-KMS, TLS-only policy (FSBP S3.8, S3.17, S3.5)",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def _vpc_flow_logs_policy() -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for message, urn in vpc_flow_logs(args.resources):
            report_violation(message, urn)

    return StackValidationPolicy(
        name="ec2-vpc-flow-logs-enabled",
        description="Every VPC has a flow log (FSBP EC2.6)",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def build_policies() -> list[Policy]:
    return [*(_resource_policy(rule) for rule in RULES), _vpc_flow_logs_policy(), _s3_bucket_guards_policy()]
