"""SOC2 AWS rules for any Pulumi stack: encryption, rotation, exposure, backup and logging.

Each rule names the AWS Foundational Security Best Practices (FSBP) controls it implements, the
@pulumi/awsguard policy it matches where one exists, and the SOC2 Trust Services Criteria it serves.
Rules without an FSBP id fill gaps FSBP leaves (rds.force_ssl, log group encryption, ...).

The policy server hands each rule its props through pulumi-policy's `unknown_checking_proxy`: lists
arrive as `_ListProxy` (a Sequence, not a `list`), objects as `_DictProxy` (a Mapping, not a `dict`),
numbers as floats, and reading a value not known during preview raises `UnknownValueError`, which the
server turns into an advisory "can't run during preview" note. So rules test for Sequence/Mapping,
never list/dict, and never judge a value the engine has not computed.
This module is importable without starting the policy server; `__main__.py` only builds the pack.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kit.stack_rules import RESERVED_DB_USERNAMES
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

Props = Mapping[str, Any]
Check = Callable[[Props], Iterator[str]]

KMS_KEY = "aws:kms/key:Key"
RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_PARAMETER_GROUPS = (
    "aws:rds/parameterGroup:ParameterGroup",
    "aws:rds/clusterParameterGroup:ClusterParameterGroup",
)
SECRET = "aws:secretsmanager/secret:Secret"  # noqa: S105 a type token
SECRET_POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"  # noqa: S105 a type token
SECRET_ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"  # noqa: S105 a type token
EC2_INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EBS_VOLUME = "aws:ebs/volume:Volume"
EIP = "aws:ec2/eip:Eip"
EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation"
SUBNET = "aws:ec2/subnet:Subnet"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
SNS_TOPIC = "aws:sns/topic:Topic"
SNS_TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
S3_BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
S3_VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
S3_LIFECYCLE = (
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
)
S3_OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
S3_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
PUBLIC_ACCESS_SETTINGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
CLASSIC_LOAD_BALANCER = "aws:elb/loadBalancer:LoadBalancer"
IAM_ROLE = "aws:iam/role:Role"
IAM_POLICY_DOCUMENTS = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
    IAM_ROLE,  # its `inlinePolicies`
)
IAM_POLICY_ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
    IAM_ROLE,  # its `managedPolicyArns`
)
IAM_USER_POLICIES = ("aws:iam/userPolicy:UserPolicy", "aws:iam/userPolicyAttachment:UserPolicyAttachment")

PORTS_OPEN_TO_WORLD = frozenset({80, 443})  # TLS terminates on the hosts; nothing else faces the internet
# A source reaches "the internet" when it holds public addresses and is wider than one organisation's
# range: config.py accepts an SSH admin CIDR of /16 or narrower, so /15 and wider is the world.
WIDEST_ORGANISATION_PREFIX = {4: 16, 6: 48}
NON_PUBLIC_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
)
DEFAULT_DB_PORTS = (
    (("aurora-postgresql", "postgres"), 5432),
    (("aurora-mysql", "aurora", "mysql", "mariadb"), 3306),
    (("oracle",), 1521),
    (("sqlserver",), 1433),
)
MIN_BACKUP_DAYS = 7
MIN_LOG_RETENTION_DAYS = 365  # FSBP CloudWatch.16's default
PROD_KMS_DELETION_WINDOW_DAYS = 30
PROD_TAG_VALUES = frozenset({"prod", "production"})
# The caller context keys that pin a statement open to Principal "*" to one account, org or principal.
CALLER_ACCOUNT_KEYS = frozenset(
    {
        "aws:principalaccount",
        "aws:principalorgid",
        "aws:sourceaccount",
        "aws:sourceowner",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "kms:calleraccount",
    }
)
CALLER_ARN_KEYS = frozenset({"aws:principalarn", "aws:sourcearn"})
# Exact-match operators only: IfExists, negated and ForAllValues operators pass when the key is absent.
RESTRICTING_OPERATORS = frozenset(
    {"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike"}
)
# AWS-managed policies that grant administrator or whole-service power.
AWS_MANAGED_POLICY = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/(?:.+/)?(?P<name>[^/]+)$")
ADMIN_LIKE_POLICIES = frozenset(
    {
        "AdministratorAccess",
        "AdministratorAccess-Amplify",
        "AdministratorAccess-AWSElasticBeanstalk",
        "PowerUserAccess",
        "IAMFullAccess",
        "SystemAdministrator",
        "DatabaseAdministrator",
        "NetworkAdministrator",
        "SecretsManagerReadWrite",
        "AWSKeyManagementServicePowerUser",
    }
)
KMS_DECRYPT_ACTIONS = ("kms:Decrypt", "kms:ReEncryptFrom")  # what FSBP KMS.1/KMS.2 look for
ON_VALUES = frozenset({"1", "on", "true", "yes"})


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    checks: Mapping[str, Check]  # resource type -> check
    fsbp: tuple[str, ...]  # AWS Foundational Security Best Practices control ids; () where FSBP has none
    soc2: tuple[str, ...]  # Trust Services Criteria the rule serves
    awsguard: str | None = None  # the @pulumi/awsguard policy of the same intent, where one exists

    @property
    def resource_types(self) -> tuple[str, ...]:
        return tuple(self.checks)

    @property
    def references(self) -> str:
        parts = [f"FSBP {', '.join(self.fsbp)}" if self.fsbp else "soc2kit (no FSBP control)"]
        if self.awsguard:
            parts.append(f"awsguard {self.awsguard}")
        parts.append(f"SOC2 {', '.join(self.soc2)}")
        return "; ".join(parts)


def _for(resource_types: Iterable[str], check: Check) -> dict[str, Check]:
    return dict.fromkeys(resource_types, check)


# --- helpers ---------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    """A property that may be one value or a sequence of them (a `_ListProxy` under the engine)."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return [value]


def _number(value: Any) -> float | None:
    """A numeric value (the engine sends every number as a float), or None when absent."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _show(value: Any) -> str:
    """A value for a message: 7.0 (as the engine sends numbers) reads 7."""
    number = _number(value)
    if number is not None and number.is_integer():
        return str(int(number))
    return repr(value) if isinstance(value, str) else str(value)


def _is_on(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ON_VALUES


def _is_prod(props: Props) -> bool:
    tags = props.get("tags") or {}
    return str(tags.get("Environment", tags.get("environment", ""))).lower() in PROD_TAG_VALUES


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


def _sid(statement: Mapping[str, Any]) -> str:
    return str(statement.get("Sid", "(no Sid)"))


def _wildcard_match(pattern: str, value: str) -> bool:
    """IAM's matching of actions and ARNs: `*` any run of characters, `?` one, case-insensitive."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE) is not None


def _has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def _allows_action(statement: Mapping[str, Any], action: str) -> bool:
    """Whether an Allow statement grants `action`, through Action patterns or through NotAction."""
    if not _allows(statement):
        return False
    if "NotAction" in statement:
        return not any(_wildcard_match(str(p), action) for p in _as_list(statement.get("NotAction")))
    return any(_wildcard_match(str(p), action) for p in _as_list(statement.get("Action")))


def _grants_every_action(statement: Mapping[str, Any]) -> bool:
    """Allow of `*` (or `*:*`), or Allow with NotAction, which grants everything not listed."""
    if not _allows(statement):
        return False
    if "NotAction" in statement:
        return True
    return any(str(p).strip() in ("*", "*:*") for p in _as_list(statement.get("Action")))


def _resources(statement: Mapping[str, Any]) -> list[str]:
    """The resource patterns a statement covers; NotResource covers everything not listed, i.e. `*`."""
    if "NotResource" in statement:
        return ["*"]
    return [str(r) for r in _as_list(statement.get("Resource"))]


def _covers_all_kms_keys(resource: str) -> str | None:
    """Why a resource pattern reaches every KMS key (any region, account or key id), or None."""
    parts = resource.split(":", 5)
    if resource.strip() == "*" or (len(parts) < 6 and _has_wildcard(resource)):
        return f"{resource!r} matches every KMS key"
    if len(parts) < 6 or not _wildcard_match(parts[2], "kms"):
        return None
    _, partition, service, region, account, key = parts
    wild = [
        label
        for label, part in (
            ("partition", partition),
            ("service", service),
            ("region", region),
            ("account", account),
        )
        if _has_wildcard(part)
    ]
    if _has_wildcard(key):
        wild.append("key id")
    return f"{resource!r} has wildcards in its {', '.join(wild)}" if wild else None


def _public_principal(statement: Mapping[str, Any]) -> bool:
    """Principal "*" in any form, or NotPrincipal on an Allow (everyone but those listed)."""
    if "NotPrincipal" in statement and _allows(statement):
        return True
    principal = statement.get("Principal")
    if principal == "*":
        return True
    return isinstance(principal, Mapping) and any("*" in _as_list(v) for v in principal.values())


def _pins_caller(key: str, values: list[Any]) -> bool:
    """Whether a condition on `key` with `values` names one account, org or principal (no wildcards there)."""
    key = key.lower()
    texts = [str(v) for v in values]
    if not texts:
        return False
    if key in CALLER_ACCOUNT_KEYS:
        return not any(_has_wildcard(t) for t in texts)
    if key in CALLER_ARN_KEYS:
        return all(
            len(parts := t.split(":", 5)) == 6 and parts[4] and not _has_wildcard(parts[4]) for t in texts
        )
    if key == "aws:principalorgpaths":
        return all(re.match(r"^o-[a-z0-9]+/", t) is not None for t in texts)
    return False


def _restricts_caller(statement: Mapping[str, Any]) -> bool:
    """A condition that really limits who may use a statement open to Principal "*"."""
    condition = statement.get("Condition")
    if not isinstance(condition, Mapping):
        return False
    for operator, clauses in condition.items():
        if str(operator).lower() not in RESTRICTING_OPERATORS or not isinstance(clauses, Mapping):
            continue
        if any(_pins_caller(str(key), _as_list(values)) for key, values in clauses.items()):
            return True
    return False


def _open_to_anyone(statement: Mapping[str, Any]) -> bool:
    return _allows(statement) and _public_principal(statement) and not _restricts_caller(statement)


def _policy_documents(props: Props) -> Iterator[tuple[str, Any]]:
    """(label, document) of an IAM policy resource, or of each inline policy of an IAM role."""
    if "policy" in props:
        yield "policy", props.get("policy")
    for inline in _as_list(props.get("inlinePolicies")):
        if isinstance(inline, Mapping):
            yield f"inline policy {inline.get('name', '?')!r}", inline.get("policy")


def _policy_statements(props: Props) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for label, document in _policy_documents(props):
        for statement in _statements(document):
            yield f"{label} statement {_sid(statement)}", statement


# --- KMS -------------------------------------------------------------------------------------------


def kms_key_rotation(props: Props) -> Iterator[str]:
    spec = props.get("customerMasterKeySpec") or props.get("keySpec") or "SYMMETRIC_DEFAULT"
    if spec == "SYMMETRIC_DEFAULT" and props.get("enableKeyRotation") is not True:
        yield "KMS key must have automatic rotation enabled (enableKeyRotation: true)"


def kms_deletion_window(props: Props) -> Iterator[str]:
    days = _number(props.get("deletionWindowInDays"))
    if _is_prod(props) and days is not None and days < PROD_KMS_DELETION_WINDOW_DAYS:
        yield (
            f"production KMS key deletion window is {_show(days)} days; use {PROD_KMS_DELETION_WINDOW_DAYS} "
            "so a mistaken deletion can be cancelled"
        )


def kms_no_lockout_bypass(props: Props) -> Iterator[str]:
    if props.get("bypassPolicyLockoutSafetyCheck") is True:
        yield "KMS key must not bypass the policy lockout safety check"


def kms_key_policy_least_privilege(props: Props) -> Iterator[str]:
    policy = props.get("policy")
    if policy is None:
        yield "KMS key must carry an explicit key policy (the default grants kms:* to the whole account)"
        return
    for statement in _statements(policy):
        if _open_to_anyone(statement):
            yield (
                f"key policy statement {_sid(statement)} allows any principal; a condition must pin the "
                "caller's account, org or ARN (e.g. kms:CallerAccount)"
            )
        if _allows(statement) and (_grants_every_action(statement) or _allows_action(statement, "kms:*")):
            kind = "every action not listed (NotAction)" if "NotAction" in statement else "kms:*"
            yield f"key policy statement {_sid(statement)} allows {kind}; grant only what is needed"


# --- IAM -------------------------------------------------------------------------------------------


def iam_no_admin(props: Props) -> Iterator[str]:
    for where, statement in _policy_statements(props):
        if not _grants_every_action(statement):
            continue
        if "NotAction" in statement:
            yield f"IAM {where} allows every action except those listed (Allow with NotAction); list actions"
        else:
            yield f"IAM {where} grants every action (*); grant only what is needed"


def iam_no_admin_managed_policies(props: Props) -> Iterator[str]:
    for arn in [props.get("policyArn"), *_as_list(props.get("managedPolicyArns"))]:
        match = AWS_MANAGED_POLICY.match(str(arn or ""))
        if match and (match["name"] in ADMIN_LIKE_POLICIES or match["name"].endswith("FullAccess")):
            yield (
                f"AWS-managed policy {match['name']} grants administrator or whole-service access; "
                "attach a policy scoped to what the role does"
            )


def iam_no_service_wildcards(props: Props) -> Iterator[str]:
    for where, statement in _policy_statements(props):
        if "NotAction" in statement:
            continue  # iam-no-admin-policies reports it
        wildcards = [str(a) for a in _as_list(statement.get("Action")) if re.fullmatch(r"[^*:]+:\*", str(a))]
        if _allows(statement) and wildcards:
            yield f"IAM {where} allows every action of a service: {', '.join(wildcards)}"


def iam_no_decrypt_on_all_keys(props: Props) -> Iterator[str]:
    for where, statement in _policy_statements(props):
        actions = [a for a in KMS_DECRYPT_ACTIONS if _allows_action(statement, a)]
        if not actions:
            continue
        for resource in _resources(statement):
            if (why := _covers_all_kms_keys(resource)) is not None:
                yield f"IAM {where} allows {', '.join(actions)} on all KMS keys: {why}; name the keys"


def iam_no_user_policies(props: Props) -> Iterator[str]:
    yield "attach IAM policies to roles or groups, not directly to users"


def iam_trust_not_public(props: Props) -> Iterator[str]:
    for statement in _statements(props.get("assumeRolePolicy")):
        if _open_to_anyone(statement):
            yield f"role trust statement {_sid(statement)} lets any AWS principal assume the role"


# --- Secrets Manager -------------------------------------------------------------------------------


def secret_cmk(props: Props) -> Iterator[str]:
    key = str(props.get("kmsKeyId") or "")
    if not key or "alias/aws/" in key:
        yield "secret must be encrypted with a customer-managed KMS key (kmsKeyId), not aws/secretsmanager"


def secret_recovery_window(props: Props) -> Iterator[str]:
    days = _number(props.get("recoveryWindowInDays"))
    if days is not None and days < 7:
        yield f"secret recovery window is {_show(days)} days; use 7-30 so a deleted secret can be restored"


def secret_description(props: Props) -> Iterator[str]:
    if not str(props.get("description") or "").strip():
        yield "secret needs a description saying what it holds and who reads it"


def secret_policy_not_public(props: Props) -> Iterator[str]:
    if props.get("blockPublicPolicy") is False:
        yield "secret policy must keep blockPublicPolicy enabled"
    for statement in _statements(props.get("policy")):
        if _open_to_anyone(statement):
            yield f"secret policy statement {_sid(statement)} lets any principal act on the secret"


# --- RDS -------------------------------------------------------------------------------------------


def rds_storage_encrypted_cmk(props: Props) -> Iterator[str]:
    key = str(props.get("kmsKeyId") or "")
    if props.get("storageEncrypted") is not True:
        yield "database storage must be encrypted (storageEncrypted: true)"
    elif not key or "alias/aws/" in key:
        yield "database storage must use a customer-managed KMS key (kmsKeyId), not the AWS-managed aws/rds"


def rds_not_public(props: Props) -> Iterator[str]:
    if props.get("publiclyAccessible") is True:
        yield "database must not be publicly accessible"


def rds_backups(props: Props) -> Iterator[str]:
    days = _number(props.get("backupRetentionPeriod"))
    if days is None or days < MIN_BACKUP_DAYS:
        shown = "not set" if days is None else f"{_show(days)} days"
        yield f"automated backups must be kept at least {MIN_BACKUP_DAYS} days (it is {shown})"


def rds_enhanced_monitoring(props: Props) -> Iterator[str]:
    if not _number(props.get("monitoringInterval")):
        yield "enhanced monitoring must be on (monitoringInterval > 0 with a monitoringRoleArn)"
    elif not props.get("monitoringRoleArn"):
        yield "enhanced monitoring needs its role (monitoringRoleArn)"


def rds_iam_auth(props: Props) -> Iterator[str]:
    if props.get("iamDatabaseAuthenticationEnabled") is not True:
        yield "IAM database authentication must be enabled"


def rds_log_exports(props: Props) -> Iterator[str]:
    engine = str(props.get("engine") or "")
    exports = {str(e) for e in _as_list(props.get("enabledCloudwatchLogsExports"))}
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
    username = props.get("username") or props.get("masterUsername")
    if username is not None and str(username).lower() in RESERVED_DB_USERNAMES:
        yield f"database admin user name {str(username)!r} is a default; choose another"


def rds_default_port(props: Props) -> Iterator[str]:
    engine = str(props.get("engine") or "").lower()
    default = next((port for prefixes, port in DEFAULT_DB_PORTS if engine.startswith(prefixes)), None)
    if default is None:
        return  # a replica inherits its engine; an unknown engine has no known default
    port = _number(props.get("port"))
    if port is None:
        yield f"database port is not set, so {engine} listens on its default {default}; set another port"
    elif port == default:
        yield f"database port {default} is the {engine} default; use another (e.g. {default + 1})"


def rds_final_snapshot(props: Props) -> Iterator[str]:
    if props.get("skipFinalSnapshot") is True:
        yield "deleting the database must take a final snapshot (skipFinalSnapshot: false)"


def rds_managed_password(props: Props) -> Iterator[str]:
    if props.get("password") or props.get("passwordWo") or props.get("masterPassword"):
        yield "the master password must not be set in code or state; use manageMasterUserPassword"
    elif props.get("manageMasterUserPassword") is not True and not props.get("replicateSourceDb"):
        yield "let RDS manage the master password in Secrets Manager (manageMasterUserPassword: true)"


def rds_performance_insights_cmk(props: Props) -> Iterator[str]:
    if props.get("performanceInsightsEnabled") is True and not props.get("performanceInsightsKmsKeyId"):
        yield "Performance Insights data must be encrypted with a customer-managed key"


def rds_custom_parameter_group(props: Props) -> Iterator[str]:
    group = props.get("parameterGroupName")
    if group is None or str(group).startswith("default."):
        yield "database must use its own parameter group (the default cannot force TLS)"


def rds_prod_multi_az(props: Props) -> Iterator[str]:
    if _is_prod(props) and props.get("multiAz") is not True:
        yield "production databases must be Multi-AZ"


def rds_prod_deletion_protection(props: Props) -> Iterator[str]:
    if _is_prod(props) and props.get("deletionProtection") is not True:
        yield "production databases must have deletion protection"


def _tls_at_least_1_2(value: str) -> bool:
    return value.strip().lower() in ("tlsv1.2", "tlsv1.3")


# PostgreSQL parameter -> (acceptable?, what to set, why)
POSTGRES_SECURITY_PARAMETERS: dict[str, tuple[Callable[[str], bool], str, str]] = {
    "rds.force_ssl": (_is_on, "1", "TLS for every connection"),
    "ssl_min_protocol_version": (_tls_at_least_1_2, "TLSv1.2", "no TLS 1.0/1.1"),
    "password_encryption": (lambda v: v.strip().lower() == "scram-sha-256", "scram-sha-256", "no MD5 hashes"),
    "log_connections": (_is_on, "1", "who connected, from where"),
    "log_disconnections": (_is_on, "1", "session ends and durations"),
    "log_statement": (lambda v: v.strip().lower() in ("ddl", "mod", "all"), "ddl", "schema changes audited"),
}


def rds_postgres_security_parameters(props: Props) -> Iterator[str]:
    if not str(props.get("family") or "").startswith(("postgres", "aurora-postgresql")):
        return
    values = {
        str(p.get("name")): str(p.get("value"))
        for p in _as_list(props.get("parameters"))
        if isinstance(p, Mapping)
    }
    for name, (acceptable, wanted, why) in POSTGRES_SECURITY_PARAMETERS.items():
        value = values.get(name)
        if value is None:
            yield f"PostgreSQL parameter group must set {name} = {wanted} ({why}); it is not set"
        elif not acceptable(value):
            yield f"PostgreSQL parameter {name} is {value!r}; set {wanted} ({why})"


# --- EC2 / VPC -------------------------------------------------------------------------------------


def ec2_imdsv2(props: Props) -> Iterator[str]:
    options = props.get("metadataOptions") or {}
    if options.get("httpEndpoint") != "disabled" and options.get("httpTokens") != "required":
        yield "instance metadata must require IMDSv2 tokens (metadataOptions.httpTokens: required)"


def _device_problems(label: str, device: Mapping[str, Any]) -> Iterator[str]:
    if not _is_on(device.get("encrypted")):
        yield f"{label} must be encrypted"
    elif not device.get("kmsKeyId"):
        yield f"{label} must be encrypted with a customer-managed KMS key (kmsKeyId)"


def ec2_instance_volumes_encrypted_cmk(props: Props) -> Iterator[str]:
    yield from _device_problems("root volume", props.get("rootBlockDevice") or {})
    for device in _as_list(props.get("ebsBlockDevices")):
        yield from _device_problems(f"volume {device.get('deviceName', '?')}", device)


def ec2_launch_template_volumes_encrypted_cmk(props: Props) -> Iterator[str]:
    for mapping in _as_list(props.get("blockDeviceMappings")):
        yield from _device_problems(f"volume {mapping.get('deviceName', '?')}", mapping.get("ebs") or {})


def ebs_volume_encrypted_cmk(props: Props) -> Iterator[str]:
    yield from _device_problems("volume", props)


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
    if _as_list(props.get("ingress")) or _as_list(props.get("egress")):
        yield "the default security group must have no rules"


def _within(network: ipaddress.IPv4Network | ipaddress.IPv6Network, outer: Any) -> bool:
    if isinstance(network, ipaddress.IPv4Network) and isinstance(outer, ipaddress.IPv4Network):
        return network.subnet_of(outer)
    if isinstance(network, ipaddress.IPv6Network) and isinstance(outer, ipaddress.IPv6Network):
        return network.subnet_of(outer)
    return False


def _internet_wide(cidr: str) -> str | None:
    """Why a source CIDR reaches the internet at large, or None. Judged by address, never by spelling."""
    try:
        network = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return f"{cidr!r} is not a CIDR"
    if any(_within(network, n) for n in NON_PUBLIC_NETWORKS):
        return None
    widest = WIDEST_ORGANISATION_PREFIX[network.version]
    if network.prefixlen >= widest:
        return None
    return f"{cidr} spans {network.num_addresses:.3g} public addresses (wider than /{widest})"


def _world_ports(from_port: Any, to_port: Any, protocol: Any) -> str | None:
    """Describe an opened port range that is not HTTP/HTTPS over TCP, or None if it is fine."""
    protocol = str(protocol).strip().lower()
    if protocol in ("-1", "all"):
        return "all traffic"
    low, high = int(_number(from_port) or 0), int(_number(to_port) or 0)
    if protocol in ("tcp", "6") and low == high and low in PORTS_OPEN_TO_WORLD:
        return None
    return f"{protocol} port {low}" if low == high else f"{protocol} ports {low}-{high}"


def _ingress_problems(sources: Iterable[Any], from_port: Any, to_port: Any, protocol: Any) -> Iterator[str]:
    for source in sources:
        if source is None or (why := _internet_wide(str(source))) is None:
            continue
        if (ports := _world_ports(from_port, to_port, protocol)) is not None:
            yield (
                f"{ports} open to the internet ({why}); only TCP 80 and 443 may be "
                "(SSH from an admin CIDR, or SSM)"
            )


def sg_inline_ingress(props: Props) -> Iterator[str]:
    for rule in _as_list(props.get("ingress")):
        sources = [*_as_list(rule.get("cidrBlocks")), *_as_list(rule.get("ipv6CidrBlocks"))]
        yield from _ingress_problems(sources, rule.get("fromPort"), rule.get("toPort"), rule.get("protocol"))


def sg_rule_ingress(props: Props) -> Iterator[str]:
    if props.get("type") == "ingress":
        sources = [*_as_list(props.get("cidrBlocks")), *_as_list(props.get("ipv6CidrBlocks"))]
        yield from _ingress_problems(
            sources, props.get("fromPort"), props.get("toPort"), props.get("protocol")
        )


def vpc_ingress_rule(props: Props) -> Iterator[str]:
    sources = [props.get("cidrIpv4"), props.get("cidrIpv6")]
    yield from _ingress_problems(sources, props.get("fromPort"), props.get("toPort"), props.get("ipProtocol"))


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
    days = _number(props.get("retentionInDays"))
    if not days:
        yield f"log group needs an explicit retention of at least {MIN_LOG_RETENTION_DAYS} days"
    elif days < MIN_LOG_RETENTION_DAYS:
        yield f"log group keeps logs {_show(days)} days; at least {MIN_LOG_RETENTION_DAYS} are required"


# --- SNS -----------------------------------------------------------------------------------------


def sns_topic_encrypted_cmk(props: Props) -> Iterator[str]:
    key = str(props.get("kmsMasterKeyId") or "")
    if not key:
        yield "SNS topic must be encrypted with a customer-managed KMS key (kmsMasterKeyId)"
    elif "alias/aws/" in key:
        yield "SNS topic must use a customer-managed KMS key, not the AWS-managed aws/sns"


def sns_topic_policy_not_public(props: Props) -> Iterator[str]:
    for statement in _statements(props.get("policy")):
        if _open_to_anyone(statement):
            yield f"topic policy statement {_sid(statement)} lets anyone act on the topic"


# --- S3 ------------------------------------------------------------------------------------------


def s3_public_access_blocked(props: Props) -> Iterator[str]:
    if off := [s for s in PUBLIC_ACCESS_SETTINGS if props.get(s) is not True]:
        yield f"bucket public access block must enable all four settings; off: {', '.join(off)}"


def s3_encrypted_cmk(props: Props) -> Iterator[str]:
    rules = [r for r in _as_list(props.get("rules")) if isinstance(r, Mapping)]
    defaults = [r.get("applyServerSideEncryptionByDefault") or {} for r in rules]
    if not any(d.get("sseAlgorithm") in ("aws:kms", "aws:kms:dsse") for d in defaults):
        yield "bucket default encryption must be SSE-KMS (sseAlgorithm aws:kms), not SSE-S3"
    elif not any(
        d.get("kmsMasterKeyId") and "alias/aws/" not in str(d.get("kmsMasterKeyId")) for d in defaults
    ):
        yield "bucket SSE-KMS must use a customer-managed key (kmsMasterKeyId), not the AWS-managed aws/s3"


def _denies_plain_http(policy: Any) -> bool:
    for statement in _statements(policy):
        condition = statement.get("Condition") or {}
        secure = (condition.get("Bool") or {}).get("aws:SecureTransport")
        if (
            statement.get("Effect") == "Deny"
            and _public_principal(statement)
            and str(secure).lower() == "false"
        ):
            return True
    return False


def s3_policy_tls_only(props: Props) -> Iterator[str]:
    if not _denies_plain_http(props.get("policy")):
        yield "bucket policy must deny requests without TLS (Deny, Principal *, aws:SecureTransport = false)"
    for statement in _statements(props.get("policy")):
        if _open_to_anyone(statement):
            yield f"bucket policy statement {_sid(statement)} lets anyone act on the bucket"


RULES: tuple[Rule, ...] = (
    Rule(
        "kms-key-rotation-enabled",
        "KMS keys rotate automatically",
        _for([KMS_KEY], kms_key_rotation),
        ("KMS.4",),
        ("CC6.1",),
        "cmk-backing-key-rotation-enabled",
    ),
    Rule(
        "kms-key-deletion-window-in-prod",
        "Production KMS key deletion waits 30 days",
        _for([KMS_KEY], kms_deletion_window),
        ("KMS.3",),
        ("A1.2", "CC6.1"),
    ),
    Rule(
        "kms-key-no-lockout-bypass",
        "KMS keys keep the lockout safety check",
        _for([KMS_KEY], kms_no_lockout_bypass),
        (),
        ("CC6.1", "A1.2"),
    ),
    Rule(
        "kms-key-policy-least-privilege",
        "Explicit key policy, no public or kms:* grants",
        _for([KMS_KEY], kms_key_policy_least_privilege),
        ("KMS.5",),
        ("CC6.1", "CC6.3"),
    ),
    Rule(
        "iam-no-admin-policies",
        "No IAM policy grants every action",
        _for(IAM_POLICY_DOCUMENTS, iam_no_admin),
        ("IAM.1",),
        ("CC6.1", "CC6.3"),
    ),
    Rule(
        "iam-no-admin-managed-policies",
        "No AWS-managed admin or FullAccess policy attached",
        _for(IAM_POLICY_ATTACHMENTS, iam_no_admin_managed_policies),
        (),  # IAM.1 judges customer-managed policies only
        ("CC6.1", "CC6.3"),
    ),
    Rule(
        "iam-no-service-wildcard-actions",
        "No IAM policy grants service:*",
        _for(IAM_POLICY_DOCUMENTS, iam_no_service_wildcards),
        ("IAM.21",),
        ("CC6.3",),
    ),
    Rule(
        "iam-no-decrypt-on-all-keys",
        "No kms:Decrypt on every key",
        _for(IAM_POLICY_DOCUMENTS, iam_no_decrypt_on_all_keys),
        ("KMS.1", "KMS.2"),
        ("CC6.1", "C1.1"),
    ),
    Rule(
        "iam-no-user-policies",
        "Policies attach to roles or groups, not users",
        _for(IAM_USER_POLICIES, iam_no_user_policies),
        ("IAM.2",),
        ("CC6.2", "CC6.3"),
    ),
    Rule(
        "iam-role-trust-not-public",
        "No role may be assumed by anyone",
        _for([IAM_ROLE], iam_trust_not_public),
        (),
        ("CC6.1", "CC6.6"),
    ),
    Rule(
        "secretsmanager-secret-cmk",
        "Secrets encrypted with a customer-managed key",
        _for([SECRET], secret_cmk),
        (),
        ("CC6.1", "C1.1"),
    ),
    Rule(
        "secretsmanager-recovery-window",
        "Deleted secrets recoverable for >= 7 days",
        _for([SECRET], secret_recovery_window),
        (),
        ("A1.2",),
    ),
    Rule(
        "secretsmanager-description",
        "Secrets say what they hold",
        _for([SECRET], secret_description),
        (),
        ("C1.1",),
    ),
    Rule(
        "secretsmanager-policy-not-public",
        "Secret policies are not public",
        _for([SECRET, SECRET_POLICY], secret_policy_not_public),
        (),
        ("CC6.1", "CC6.6"),
    ),
    Rule(
        "rds-storage-encrypted-cmk",
        "Database storage encrypted with a CMK",
        _for([RDS_INSTANCE, RDS_CLUSTER], rds_storage_encrypted_cmk),
        ("RDS.3",),
        ("CC6.1", "C1.1"),
        "rds-storage-encrypted",
    ),
    Rule(
        "rds-not-publicly-accessible",
        "Database not publicly accessible",
        _for([RDS_INSTANCE], rds_not_public),
        ("RDS.2",),
        ("CC6.6",),
        "rds-instance-public-access-check",
    ),
    Rule(
        "rds-backup-retention-7-days",
        "Automated backups kept >= 7 days",
        _for([RDS_INSTANCE, RDS_CLUSTER], rds_backups),
        ("RDS.11",),
        ("A1.2",),
        "rds-instance-backup-enabled",
    ),
    Rule(
        "rds-enhanced-monitoring",
        "Enhanced monitoring on",
        _for([RDS_INSTANCE], rds_enhanced_monitoring),
        ("RDS.6",),
        ("CC7.2",),
    ),
    Rule(
        "rds-iam-authentication",
        "IAM database authentication on",
        _for([RDS_INSTANCE, RDS_CLUSTER], rds_iam_auth),
        ("RDS.10", "RDS.12"),
        ("CC6.1",),
    ),
    Rule(
        "rds-log-exports",
        "Database logs exported to CloudWatch",
        _for([RDS_INSTANCE], rds_log_exports),
        ("RDS.9",),
        ("CC7.2",),
    ),
    Rule(
        "rds-auto-minor-version-upgrade",
        "Minor version upgrades automatic",
        _for([RDS_INSTANCE], rds_minor_upgrades),
        ("RDS.13",),
        ("CC7.1",),
    ),
    Rule(
        "rds-copy-tags-to-snapshots",
        "Snapshots keep tags",
        _for([RDS_INSTANCE, RDS_CLUSTER], rds_copy_tags),
        ("RDS.17", "RDS.16"),
        ("C1.1",),
    ),
    Rule(
        "rds-custom-admin-username",
        "No default admin user name",
        _for([RDS_INSTANCE, RDS_CLUSTER], rds_custom_admin),
        ("RDS.25", "RDS.24"),
        ("CC6.1",),
    ),
    Rule(
        "rds-no-default-port",
        "Database not on its engine's default port",
        _for([RDS_INSTANCE, RDS_CLUSTER], rds_default_port),
        ("RDS.23",),
        ("CC6.6",),
    ),
    Rule(
        "rds-final-snapshot",
        "Final snapshot on delete",
        _for([RDS_INSTANCE, RDS_CLUSTER], rds_final_snapshot),
        (),
        ("A1.2",),
    ),
    Rule(
        "rds-managed-master-password",
        "Master password managed by RDS, never in state",
        _for([RDS_INSTANCE, RDS_CLUSTER], rds_managed_password),
        (),
        ("CC6.1",),
    ),
    Rule(
        "rds-performance-insights-cmk",
        "Performance Insights encrypted with a CMK",
        _for([RDS_INSTANCE], rds_performance_insights_cmk),
        (),
        ("CC6.1", "C1.1"),
    ),
    Rule(
        "rds-custom-parameter-group",
        "Own parameter group (so TLS can be forced)",
        _for([RDS_INSTANCE], rds_custom_parameter_group),
        (),
        ("CC6.7",),
    ),
    Rule(
        "rds-multi-az-in-prod",
        "Production databases Multi-AZ",
        _for([RDS_INSTANCE], rds_prod_multi_az),
        ("RDS.5",),
        ("A1.2",),
    ),
    Rule(
        "rds-deletion-protection-in-prod",
        "Production databases deletion-protected",
        _for([RDS_INSTANCE, RDS_CLUSTER], rds_prod_deletion_protection),
        ("RDS.8", "RDS.7"),
        ("A1.2",),
    ),
    Rule(
        "rds-postgres-security-parameters",
        "PostgreSQL forces TLS >= 1.2, SCRAM passwords, connection and DDL logging",
        _for(RDS_PARAMETER_GROUPS, rds_postgres_security_parameters),
        (),  # FSBP has no parameter-group control; RDS.9 only exports what these settings log
        ("CC6.1", "CC6.7", "CC7.2"),
    ),
    Rule(
        "ec2-imdsv2-required",
        "Instances require IMDSv2",
        _for([EC2_INSTANCE, LAUNCH_TEMPLATE], ec2_imdsv2),
        ("EC2.8", "EC2.170"),
        ("CC6.1", "CC6.6"),
    ),
    Rule(
        "ec2-volumes-encrypted-cmk",
        "EBS volumes encrypted with a CMK",
        {
            EC2_INSTANCE: ec2_instance_volumes_encrypted_cmk,
            LAUNCH_TEMPLATE: ec2_launch_template_volumes_encrypted_cmk,
            EBS_VOLUME: ebs_volume_encrypted_cmk,
        },
        ("EC2.3",),
        ("CC6.1", "C1.1"),
        "encrypted-volumes",
    ),
    Rule(
        "ec2-detailed-monitoring",
        "Instances have detailed monitoring",
        _for([EC2_INSTANCE], ec2_detailed_monitoring),
        (),
        ("CC7.2",),
        "ec2-instance-detailed-monitoring-enabled",
    ),
    Rule(
        "ec2-instance-profile",
        "Instances have an instance profile",
        _for([EC2_INSTANCE], ec2_instance_profile),
        ("SSM.1",),  # its prerequisite: SSM can only manage an instance with a profile
        ("CC6.1", "CC7.1"),
    ),
    Rule(
        "ec2-subnet-no-auto-public-ip",
        "Subnets do not auto-assign public IPs",
        _for([SUBNET], ec2_subnet_no_auto_public_ip),
        ("EC2.15",),
        ("CC6.6",),
    ),
    Rule(
        "ec2-default-security-group-closed",
        "Default security group has no rules",
        _for([DEFAULT_SG], ec2_default_sg_closed),
        ("EC2.2",),
        ("CC6.6",),
    ),
    Rule(
        "ec2-no-world-ingress-except-web",
        "Only TCP 80/443 open to the internet",
        {SECURITY_GROUP: sg_inline_ingress, SG_RULE: sg_rule_ingress, SG_INGRESS_RULE: vpc_ingress_rule},
        ("EC2.13", "EC2.14", "EC2.18", "EC2.19", "EC2.53", "EC2.54"),
        ("CC6.6",),
    ),
    Rule(
        "ec2-flow-log-all-traffic",
        "Flow logs capture all traffic",
        _for([FLOW_LOG], ec2_flow_log_all_traffic),
        ("EC2.6",),
        ("CC7.2",),
    ),
    Rule(
        "elb-deletion-protection-in-prod",
        "Production load balancers deletion-protected",
        _for(LOAD_BALANCERS, elb_prod_deletion_protection),
        ("ELB.6",),
        ("A1.2",),
        "elb-deletion-protection-enabled",
    ),
    Rule(
        "s3-bucket-public-access-blocked",
        "Bucket public access fully blocked",
        _for([S3_PUBLIC_ACCESS_BLOCK], s3_public_access_blocked),
        ("S3.8",),
        ("CC6.6", "C1.1"),
    ),
    Rule(
        "s3-bucket-encrypted-cmk",
        "Buckets encrypted with SSE-KMS and a customer-managed key",
        _for(S3_ENCRYPTION, s3_encrypted_cmk),
        ("S3.17",),
        ("CC6.1", "C1.1"),
    ),
    Rule(
        "s3-bucket-policy-tls-only",
        "Bucket policies deny plain HTTP and are not public",
        _for([S3_POLICY], s3_policy_tls_only),
        ("S3.5",),
        ("CC6.7", "CC6.6"),
    ),
    Rule(
        "sns-topic-encrypted-cmk",
        "Alert topics encrypted with a CMK",
        _for([SNS_TOPIC], sns_topic_encrypted_cmk),
        (),
        ("CC6.1", "C1.1"),
    ),
    Rule(
        "sns-topic-policy-not-public",
        "Topic policies are not public",
        _for([SNS_TOPIC, SNS_TOPIC_POLICY], sns_topic_policy_not_public),
        (),
        ("CC6.1", "CC6.6"),
    ),
    Rule(
        "cloudwatch-log-group-encrypted-cmk",
        "Log groups encrypted with a CMK",
        _for([LOG_GROUP], logs_encrypted_cmk),
        (),
        ("CC6.1", "C1.1"),
    ),
    Rule(
        "cloudwatch-log-group-retention-365-days",
        "Log groups keep logs >= 365 days",
        _for([LOG_GROUP], logs_retention),
        ("CloudWatch.16",),
        ("CC7.2", "CC7.3"),
    ),
)


def violations(rule: Rule, resource_type: str, props: Props) -> list[str]:
    """What `rule` reports for one resource (empty when it passes or does not apply)."""
    check = rule.checks.get(resource_type)
    return list(check(props)) if check is not None else []


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


UNKNOWN = object()  # a value the engine has not computed yet (preview)


def _known_get(props: Props, key: str) -> Any:
    """props[key] (None when absent), or UNKNOWN during preview: a stack rule then judges what it can,
    instead of the engine skipping the whole rule for one unknown value."""
    try:
        return props.get(key)
    except UnknownValueError:
        return UNKNOWN


def _refers_to(resource: Any, prop: str, target: Any) -> bool:
    """Whether `resource.props[prop]` names `target`: by engine dependency, or by id, ARN or name."""
    if any(dep.urn == target.urn for dep in resource.property_dependencies.get(prop, [])):
        return True
    names = {_known_get(target.props, k) for k in ("id", "arn", "bucket", "name")} - {None, UNKNOWN}
    return _known_get(resource.props, prop) in names


@dataclass(frozen=True)
class StackRule:
    name: str
    description: str
    check: Callable[[list[Any]], Iterator[tuple[str, str]]]  # resources -> (message, urn)
    fsbp: tuple[str, ...]
    soc2: tuple[str, ...]
    enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY


def vpc_flow_logs(resources: list[Any]) -> Iterator[tuple[str, str]]:
    """Every VPC has a flow log."""
    flow_logs = [r for r in resources if r.resource_type == FLOW_LOG]
    for vpc in (r for r in resources if r.resource_type == VPC):
        if not any(_refers_to(flow_log, "vpcId", vpc) for flow_log in flow_logs):
            yield f"VPC {vpc.name} has no flow log", vpc.urn


def _versioning_enabled(props: Props) -> bool:
    return str((props.get("versioningConfiguration") or {}).get("status")) == "Enabled"


def _lifecycle_enabled(props: Props) -> bool:
    return any(isinstance(r, Mapping) and r.get("status") == "Enabled" for r in _as_list(props.get("rules")))


def _acls_disabled(props: Props) -> bool:
    return any(
        isinstance(r, Mapping) and r.get("objectOwnership") == "BucketOwnerEnforced"
        for r in _as_list(props.get("rule"))
    )


# (what each bucket needs, companion resource types, the companion is good if, FSBP id)
S3_BUCKET_GUARDS: tuple[tuple[str, tuple[str, ...], Callable[[Props], bool], str], ...] = (
    (
        "a full public access block",
        (S3_PUBLIC_ACCESS_BLOCK,),
        lambda p: not list(s3_public_access_blocked(p)),
        "S3.8",
    ),
    (
        "SSE-KMS default encryption with a customer key",
        S3_ENCRYPTION,
        lambda p: not list(s3_encrypted_cmk(p)),
        "S3.17",
    ),
    ("a policy denying plain HTTP", (S3_POLICY,), lambda p: _denies_plain_http(p.get("policy")), "S3.5"),
    ("enabled versioning", S3_VERSIONING, _versioning_enabled, "S3.14"),
    ("an enabled lifecycle rule", S3_LIFECYCLE, _lifecycle_enabled, "S3.13"),
    ("disabled ACLs (BucketOwnerEnforced)", (S3_OWNERSHIP,), _acls_disabled, "S3.12"),
)


def _judged(good: Callable[[Props], bool], props: Props) -> bool | None:
    """good(props), or None while a value it reads is not known (preview)."""
    try:
        return good(props)
    except UnknownValueError:
        return None


def s3_bucket_guards(resources: list[Any]) -> Iterator[tuple[str, str]]:
    """Every bucket has each of S3_BUCKET_GUARDS, from a companion resource naming it. A guard whose
    companion is not known yet (e.g. its key ARN in a first preview) is not judged."""
    for bucket in (r for r in resources if r.resource_type in S3_BUCKETS):
        companions = [r for r in resources if _refers_to(r, "bucket", bucket)]
        for need, types, good, fsbp in S3_BUCKET_GUARDS:
            verdicts = [_judged(good, r.props) for r in companions if r.resource_type in types]
            if not any(v is not False for v in verdicts):
                yield f"bucket {bucket.name} lacks {need} [FSBP {fsbp}]", bucket.urn


def _rotation_exempt_reason(tags: Mapping[str, Any]) -> str | None:
    """The stripped `RotationExempt` tag, or None when it is missing or empty."""
    reason = str(tags.get("RotationExempt") or "").strip()
    return reason or None


def _tags(resource: Any) -> Mapping[str, Any] | None:
    """The resource's tags ({} without any), or None while they are not known (preview)."""
    tags = _known_get(resource.props, "tags")
    if tags is UNKNOWN:
        return None
    return tags if isinstance(tags, Mapping) else {}


def _is_rotated(secret: Any, resources: list[Any]) -> bool:
    return any(r.resource_type == SECRET_ROTATION and _refers_to(r, "secretId", secret) for r in resources)


def secrets_rotated(resources: list[Any]) -> Iterator[tuple[str, str]]:
    """Every secret rotates, or says why not in a non-empty `RotationExempt` tag. (The RDS-managed
    master secret is no resource of the stack: RDS rotates it.)"""
    for secret in (r for r in resources if r.resource_type == SECRET):
        tags = _tags(secret)
        if tags is None or _is_rotated(secret, resources) or _rotation_exempt_reason(tags) is not None:
            continue
        if "RotationExempt" in tags:
            yield (
                f"secret {secret.name} has an empty RotationExempt tag; write why it is not rotated",
                secret.urn,
            )
        else:
            yield (
                f"secret {secret.name} has no SecretRotation and no RotationExempt tag with a reason",
                secret.urn,
            )


def secret_rotation_exemptions(resources: list[Any]) -> Iterator[tuple[str, str]]:
    """Lists each exempt secret with its reason, so a reviewer reads every exemption at each preview."""
    for secret in (r for r in resources if r.resource_type == SECRET):
        tags = _tags(secret)
        if tags is None or _is_rotated(secret, resources):
            continue
        if (reason := _rotation_exempt_reason(tags)) is not None:
            yield f"secret {secret.name} is not rotated: {reason}", secret.urn


def no_public_ip_behind_load_balancer(resources: list[Any]) -> Iterator[tuple[str, str]]:
    """With a load balancer in front, hosts get no public IPv4 (a single-host stack keeps its EIP)."""
    if not any(r.resource_type in (*LOAD_BALANCERS, CLASSIC_LOAD_BALANCER) for r in resources):
        return
    instances = [r for r in resources if r.resource_type == EC2_INSTANCE]
    for instance in instances:
        if _known_get(instance.props, "associatePublicIpAddress") is True:
            yield f"instance {instance.name} behind a load balancer has a public IP", instance.urn
    for eip in (r for r in resources if r.resource_type in (EIP, EIP_ASSOCIATION)):
        for prop in ("instance", "instanceId"):
            for instance in (i for i in instances if _refers_to(eip, prop, i)):
                yield f"instance {instance.name} behind a load balancer has Elastic IP {eip.name}", eip.urn


STACK_RULES: tuple[StackRule, ...] = (
    StackRule("ec2-vpc-flow-logs-enabled", "Every VPC has a flow log", vpc_flow_logs, ("EC2.6",), ("CC7.2",)),
    StackRule(
        "s3-buckets-guarded",
        "Every bucket: public access block, SSE-KMS, TLS-only policy, versioning, lifecycle, no ACLs",
        s3_bucket_guards,
        ("S3.8", "S3.17", "S3.5", "S3.14", "S3.13", "S3.12"),
        ("CC6.1", "CC6.6", "CC6.7", "A1.2", "C1.2"),
    ),
    StackRule(
        "secretsmanager-rotation",
        "Every secret rotates or carries a RotationExempt reason",
        secrets_rotated,
        ("SecretsManager.1",),
        ("CC6.1",),
    ),
    StackRule(
        "secretsmanager-rotation-exemptions",
        "Lists the secrets exempt from rotation and why (advisory)",
        secret_rotation_exemptions,
        ("SecretsManager.1",),
        ("CC6.1",),
        EnforcementLevel.ADVISORY,
    ),
    StackRule(
        "ec2-no-public-ip-behind-load-balancer",
        "Hosts behind a load balancer have no public IP or EIP",
        no_public_ip_behind_load_balancer,
        ("EC2.9",),
        ("CC6.6",),
    ),
)


def _stack_policy(rule: StackRule) -> StackValidationPolicy:
    references = f"FSBP {', '.join(rule.fsbp)}; SOC2 {', '.join(rule.soc2)}"

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for message, urn in rule.check(list(args.resources)):
            report_violation(f"{message} [{references}]", urn)

    return StackValidationPolicy(
        name=rule.name,
        description=f"{rule.description} ({references})",
        validate=validate,
        enforcement_level=rule.enforcement_level,
    )


def build_policies() -> list[Policy]:
    return [*(_resource_policy(rule) for rule in RULES), *(_stack_policy(rule) for rule in STACK_RULES)]
