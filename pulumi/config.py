"""Stack configuration: read once, validated, typed.

Every component takes a `StackConfig`; none reads Pulumi config itself. `parse_config` works on a
plain mapping of key -> string so that it is testable without the Pulumi runtime; `load_config`
feeds it the stack's values. All problems are collected and reported together, each naming the key
and what values are allowed, before any resource is declared.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from kit.stack_rules import (
    APP_NAME_ALLOWED,
    APP_NAME_RE,
    PG_IDENT_RE,
    REGION_RE,
    RESERVED_DB_USERNAMES,
    ZONE_ID_RE,
)
from pulumi.runtime import config as runtime_config

import pulumi

NAMESPACE = "soc2kit"
ENVIRONMENTS = ("dev", "staging", "prod")

# CloudWatch Logs accepts only these retention periods; below 365 days is refused (FSBP CloudWatch.16, CC7.2).
LOG_RETENTION_CHOICES = (365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
MONITORING_INTERVAL_CHOICES = (1, 5, 10, 15, 30, 60)
# RDS accepts 7 days, 1-23 months of 31 days, or 731 days.
PERFORMANCE_INSIGHTS_RETENTION_CHOICES = (7, *range(31, 714, 31), 731)

# RDS parameter-group family of each PostgreSQL major RDS offers (`aws rds describe-db-engine-versions
# --engine postgres --query "DBEngineVersions[].DBParameterGroupFamily"`); a major not listed has none.
PARAMETER_GROUP_FAMILIES = {"16": "postgres16", "17": "postgres17", "18": "postgres18"}
# FSBP RDS.23: not the engine's default port.
POSTGRES_DEFAULT_PORT = 5432
# Settings that look configurable but are fixed on purpose: the hint replaces "did you mean ...".
FIXED_SETTINGS = {
    "kms_deletion_window_days": (
        "is fixed: every KMS key has the maximum 30-day deletion window (FSBP KMS.3; the policy pack "
        "refuses less), so a key scheduled for deletion by mistake can be recovered for 30 days; "
        "remove this setting"
    ),
}
# Stack files ship this zone id as a placeholder; deploying with it would fail at the first DNS-01.
PLACEHOLDER_MARKER = "EXAMPLE"

# Defaults per environment; a stack file may override any of them.
ENV_DEFAULTS: dict[str, dict[str, str]] = {
    "dev": {
        "db_instance_class": "db.t4g.micro",
        "db_backup_retention_days": "7",
        "db_multi_az": "false",
        "db_deletion_protection": "false",
        "db_performance_insights_retention_days": "7",
        "host_count": "1",
        "host_instance_type": "t3.small",
        "log_retention_days": "365",
    },
    "staging": {
        "db_instance_class": "db.t4g.small",
        "db_backup_retention_days": "14",
        "db_multi_az": "false",
        "db_deletion_protection": "true",
        "db_performance_insights_retention_days": "7",
        "host_count": "1",
        "host_instance_type": "t3.small",
        "log_retention_days": "365",
    },
    "prod": {
        "db_instance_class": "db.m7g.large",
        "db_backup_retention_days": "35",
        "db_multi_az": "true",
        "db_deletion_protection": "true",
        "db_performance_insights_retention_days": "31",
        "host_count": "2",
        "host_instance_type": "t3.medium",
        "log_retention_days": "365",
    },
}

COMMON_DEFAULTS: dict[str, str] = {
    "app_name": "soc2kit",
    "vpc_cidr": "10.40.0.0/16",
    "az_count": "2",
    "host_root_volume_gb": "20",
    "db_engine_version": "17",
    "db_name": "app",
    "db_admin_username": "dbadmin",
    "db_app_username": "app",
    "db_owner_username": "app_owner",
    "db_allocated_storage_gb": "20",
    "db_max_allocated_storage_gb": "100",
    "db_monitoring_interval": "60",
    "db_port": "5433",
    "secret_recovery_window_days": "30",
    # Compliance-mode Object Lock retention of the audit checkpoints (a year of evidence at least).
    "audit_checkpoint_retention_days": "400",
}

# Without a default: parse_config reports each one missing.
REQUIRED_KEYS = ("environment", "ami_id", "deployer_role_arn")
OPTIONAL_KEYS = (
    "alert_email",
    "ssh_admin_cidr",
    "ssh_key_name",
    "acme_route53_zone_id",
    "key_admin_arns",
    "secret_reader_arns",
)
KNOWN_KEYS = (
    frozenset(COMMON_DEFAULTS)
    | {k for d in ENV_DEFAULTS.values() for k in d}
    | frozenset(REQUIRED_KEYS)
    | frozenset(OPTIONAL_KEYS)
)

_AMI_RE = re.compile(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DEPLOYER_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):(role|user)/[\w+=,.@/-]+$")
RFC1918_BLOCKS = tuple(
    ipaddress.IPv4Network(block) for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_EC2_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+$")
_RDS_CLASS_RE = re.compile(r"^db\.[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+$")
_PG_VERSION_RE = re.compile(r"^(\d+)(\.\d+)?$")
_KEY_PAIR_RE = re.compile(r"^[\w.\-]{1,255}$")
_IAM_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):(root|role/[\w+=,.@/-]+|user/[\w+=,.@/-]+)$")
_ASSUMED_ROLE_RE = re.compile(r"^arn:aws[a-z-]*:sts::(\d{12}):assumed-role/([^/]+)/.+$")
# Graviton families (t4g, m7g, c7gn, ...) need the arm64 AMI.
_ARM_FAMILY_RE = re.compile(r"^[a-z]+\d+g[a-z]*\.")


class ConfigError(ValueError):
    """One or more stack config values are missing or not allowed."""


# AWS's naming rules for the names this program derives, written once: kind -> (max length, pattern).
# The patterns are stricter than AWS where that costs nothing (lower case, no dots or underscores).
# RDS: a letter first, then letters, digits and single inner hyphens (no "--", no trailing "-").
_RDS_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
NAME_RULES: dict[str, tuple[int, re.Pattern[str]]] = {
    "rds_instance": (63, _RDS_NAME),
    "rds_snapshot": (255, _RDS_NAME),
    "rds_parameter_group": (255, _RDS_NAME),
    "rds_subnet_group": (255, _RDS_NAME),
    # Load balancers and target groups: 32 characters, alphanumerics and single inner hyphens.
    "elb": (32, re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")),
    # S3 (general purpose buckets); the reserved prefixes and suffixes are checked in valid_name.
    "s3": (63, re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")),
    "iam_role": (64, re.compile(r"^[\w+=,.@-]+$")),
    "security_group": (255, re.compile(r"^[\w .:/()#,@\[\]+=&;{}!$*-]+$")),
    "sns_topic": (256, re.compile(r"^[A-Za-z0-9_-]+$")),
    "kms_alias": (256, re.compile(r"^alias/[A-Za-z0-9/_-]+$")),
    "log_group": (512, re.compile(r"^[A-Za-z0-9_/.#-]+$")),
    "secret": (512, re.compile(r"^[A-Za-z0-9/_+=.@-]+$")),
}
_S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_S3_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def valid_name(kind: str, name: str) -> bool:
    """Whether AWS accepts `name` for a resource of `kind` (a key of NAME_RULES)."""
    limit, pattern = NAME_RULES[kind]
    if not 1 <= len(name) <= limit or not pattern.match(name):
        return False
    if kind == "elb":
        return not name.startswith("internal-")
    if kind == "s3":
        return (
            len(name) >= 3
            and ".." not in name
            and not re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name)
            and not name.startswith(_S3_RESERVED_PREFIXES)
            and not name.endswith(_S3_RESERVED_SUFFIXES)
        )
    return True


def fit_name(kind: str, base: str, suffix: str) -> str:
    """`base-suffix`, or when that is too long for `kind`: base shortened, a hash of the whole base
    (two long stack names that share their start still differ) and the suffix (unique per resource)."""
    limit = NAME_RULES[kind][0]
    name = f"{base}-{suffix}"
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(base.encode()).hexdigest()[:6]
    head = base[: limit - len(suffix) - len(digest) - 2].rstrip("-")
    return f"{head}-{digest}-{suffix}"


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    environment: str
    region: str
    app_name: str
    ami_id: str
    deployer_role_arn: str
    alert_email: str | None
    db_port: int
    vpc_cidr: str
    az_count: int
    host_count: int
    host_instance_type: str
    host_root_volume_gb: int
    ssh_admin_cidr: str | None
    ssh_key_name: str | None
    acme_route53_zone_id: str | None
    db_instance_class: str
    db_engine_version: str
    db_name: str
    db_admin_username: str
    db_app_username: str
    db_owner_username: str
    db_allocated_storage_gb: int
    db_max_allocated_storage_gb: int
    db_backup_retention_days: int
    db_multi_az: bool
    db_deletion_protection: bool
    db_performance_insights_retention_days: int
    db_monitoring_interval: int
    log_retention_days: int
    secret_recovery_window_days: int
    audit_checkpoint_retention_days: int
    key_admin_arns: tuple[str, ...]
    secret_reader_arns: tuple[str, ...]

    @property
    def prefix(self) -> str:
        """Name prefix shared by every named resource of this stack."""
        return f"{self.app_name}-{self.stack}"

    @property
    def ssm_only(self) -> bool:
        """No SSH port at all: operators and Ansible reach the hosts through SSM Session Manager."""
        return self.ssh_admin_cidr is None

    @property
    def multi_host(self) -> bool:
        return self.host_count > 1

    @property
    def db_engine_major(self) -> str:
        return self.db_engine_version.split(".")[0]

    @property
    def host_architecture(self) -> str:
        return "arm64" if _ARM_FAMILY_RE.match(self.host_instance_type) else "amd64"

    @property
    def log_group_prefix(self) -> str:
        return f"/{self.app_name}/{self.stack}"

    @property
    def secret_name_prefix(self) -> str:
        return f"{self.app_name}/{self.stack}"

    @property
    def db_identifier(self) -> str:
        return fit_name("rds_instance", self.prefix, "db")

    @property
    def db_parameter_group_family(self) -> str:
        return PARAMETER_GROUP_FAMILIES[self.db_engine_major]

    @property
    def db_parameter_group_name(self) -> str:
        return fit_name("rds_parameter_group", self.prefix, self.db_parameter_group_family)

    @property
    def db_subnet_group_name(self) -> str:
        return fit_name("rds_subnet_group", self.prefix, "db")

    @property
    def alerts_topic_name(self) -> str:
        return fit_name("sns_topic", self.prefix, "security-alerts")

    @property
    def nlb_name(self) -> str:
        return fit_name("elb", self.prefix, "nlb")

    def target_group_name(self, port: int) -> str:
        return fit_name("elb", self.prefix, f"tcp-{port}")

    def iam_role_name(self, purpose: str) -> str:
        return fit_name("iam_role", self.prefix, purpose)

    def ssm_bucket_name(self, account_id: str) -> str:
        # Bucket names are global: the account id and region make it unique and recognisable.
        return fit_name("s3", self.prefix, f"ssm-{account_id}-{self.region}")

    def derived_names(self, account_id: str) -> dict[str, tuple[str, str]]:
        """Every name this stack gives AWS, as label -> (kind in NAME_RULES, name)."""
        names = {
            "DB instance identifier": ("rds_instance", self.db_identifier),
            # The database component appends 8 generated hex characters.
            "DB final snapshot": ("rds_snapshot", f"{self.db_identifier}-final-0123abcd"),
            "DB parameter group": ("rds_parameter_group", self.db_parameter_group_name),
            "DB subnet group": ("rds_subnet_group", self.db_subnet_group_name),
            "host role": ("iam_role", self.iam_role_name("app-host")),
            "RDS monitoring role": ("iam_role", self.iam_role_name("rds-monitoring")),
            "flow logs role": ("iam_role", self.iam_role_name("vpc-flow-logs")),
            "security group": ("security_group", f"{self.prefix}-endpoints"),
            "alerts topic": ("sns_topic", self.alerts_topic_name),
            "KMS alias": ("kms_alias", f"alias/{self.prefix}-field-encryption"),
            "log group": ("log_group", f"{self.log_group_prefix}/vpc-flow-logs"),
            "secret": ("secret", f"{self.secret_name_prefix}/field_encryption_blind_index_key-"),
            "load balancer": ("elb", self.nlb_name),
            "target group (80)": ("elb", self.target_group_name(80)),
            "target group (443)": ("elb", self.target_group_name(443)),
            "SSM transfer bucket": ("s3", self.ssm_bucket_name(account_id)),
        }
        return names

    @property
    def tags(self) -> dict[str, str]:
        return {
            "Project": self.app_name,
            "Environment": self.environment,
            "Stack": self.stack,
            "ManagedBy": "pulumi",
        }


class _Reader:
    """Reads raw string values and collects every problem instead of stopping at the first."""

    def __init__(self, raw: Mapping[str, str], defaults: Mapping[str, str]) -> None:
        self.raw = raw
        self.defaults = defaults
        self.errors: list[str] = []

    def _value(self, key: str) -> str | None:
        value = self.raw.get(key, self.defaults.get(key))
        if value is None or str(value).strip() == "":
            return None
        return str(value).strip()

    def fail(self, key: str, value: object, allowed: str) -> None:
        shown = "(missing)" if value is None else repr(value)
        self.errors.append(f"{NAMESPACE}:{key} = {shown} is not allowed; allowed values: {allowed}")

    def text(self, key: str, pattern: re.Pattern[str], allowed: str) -> str:
        value = self._value(key)
        if value is None or not pattern.match(value):
            self.fail(key, value, allowed)
            return ""
        return value

    def optional_text(self, key: str, pattern: re.Pattern[str], allowed: str) -> str | None:
        value = self._value(key)
        if value is None:
            return None
        if not pattern.match(value):
            self.fail(key, value, allowed)
        return value

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self._value(key)
        if value not in choices:
            self.fail(key, value, "one of " + ", ".join(choices))
            return choices[0]
        return value

    def integer(self, key: str, low: int, high: int, choices: tuple[int, ...] | None = None) -> int:
        value = self._value(key)
        if choices and len(choices) > 16:
            allowed = f"one of {choices[0]}, {choices[1]}, {choices[2]} ... {choices[-1]}"
        elif choices:
            allowed = "one of " + ", ".join(map(str, choices))
        else:
            allowed = f"an integer from {low} to {high}"
        try:
            number = int(value) if value is not None else None
        except ValueError:
            number = None
        if number is None or not low <= number <= high or (choices and number not in choices):
            self.fail(key, value, allowed)
            return low
        return number

    def boolean(self, key: str) -> bool:
        value = self._value(key)
        if value not in ("true", "false"):
            self.fail(key, value, "true or false")
            return False
        return value == "true"

    def arn_list(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self._value(key)
        if value is None:
            return default
        allowed = 'a JSON list of IAM ARNs such as ["arn:aws:iam::123456789012:role/Admin"]'
        try:
            items = json.loads(value)
        except json.JSONDecodeError:
            items = None
        if not isinstance(items, list) or not all(isinstance(i, str) and _IAM_ARN_RE.match(i) for i in items):
            self.fail(key, value, allowed)
            return default
        return tuple(items)


def _admin_cidr(reader: _Reader) -> str | None:
    value = reader._value("ssh_admin_cidr")
    if value is None:
        return None  # no SSH at all: operators use SSM Session Manager
    allowed = "an IPv4 CIDR no wider than /16 (e.g. 203.0.113.0/24), or unset to allow no SSH (SSM only)"
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        reader.fail("ssh_admin_cidr", value, allowed)
        return None
    if network.version != 4 or network.prefixlen < 16:
        reader.fail("ssh_admin_cidr", value, allowed)
        return None
    return str(network)


def _vpc_cidr(reader: _Reader) -> str:
    value = reader._value("vpc_cidr")
    allowed = "a private (RFC 1918) IPv4 CIDR from /16 to /20, e.g. 10.40.0.0/16"
    try:
        network = ipaddress.ip_network(value or "", strict=True)
    except ValueError:
        reader.fail("vpc_cidr", value, allowed)
        return "10.40.0.0/16"
    # RFC 1918 only: is_private would also pass loopback, link-local and documentation ranges.
    if not isinstance(network, ipaddress.IPv4Network) or not 16 <= network.prefixlen <= 20:
        reader.fail("vpc_cidr", value, allowed)
        return "10.40.0.0/16"
    if not any(network.subnet_of(block) for block in RFC1918_BLOCKS):
        reader.fail("vpc_cidr", value, allowed)
        return "10.40.0.0/16"
    return str(network)


def _stack_name_problem(stack: str, environment: str) -> str | None:
    """Why `stack` cannot be deployed as `environment`, or None."""
    if not APP_NAME_RE.match(stack):
        return (
            f"stack name {stack!r} is not allowed (it is part of every resource name); allowed: "
            f"{APP_NAME_ALLOWED}; fix: `pulumi stack rename <new-name>`"
        )
    # A stack named like an environment (prod, prod-eu, staging-2) must be that environment: the
    # production minimums and the policy pack's prod rules key on `environment`, not on the name.
    named = [word for word in stack.split("-") if word in ENVIRONMENTS]
    if any(word != environment for word in named):
        return (
            f"{NAMESPACE}:environment = {environment!r} is not allowed for stack {stack!r}; allowed "
            f"values: {named[0]!r} (the environment the stack's name says), or rename the stack"
        )
    return None


def _deployer(reader: _Reader, account_id: str | None) -> str:
    value = reader._value("deployer_role_arn")
    allowed = (
        "the ARN of the IAM role (or user) that runs `pulumi up` in this stack's account"
        + (f" {account_id}" if account_id else "")
        + ", e.g. arn:aws:iam::123456789012:role/soc2kit-deployer"
    )
    match = _DEPLOYER_ARN_RE.match(value or "")
    if match is None or (account_id is not None and match.group(1) != account_id):
        reader.fail("deployer_role_arn", value, allowed)
        return ""
    return value or ""


def _key_admins(reader: _Reader, account_id: str | None, deployer: str) -> tuple[str, ...]:
    root = f"arn:aws:iam::{account_id}:root" if account_id else None
    admins = reader.arn_list("key_admin_arns", (root,) if root else ())
    if not admins:
        reader.fail("key_admin_arns", None, "a JSON list of IAM ARNs that administer the KMS keys")
        return admins
    foreign = [arn for arn in admins if account_id and arn.split(":")[4] != account_id]
    if foreign:
        reader.fail(
            "key_admin_arns",
            json.dumps(list(admins)),
            f"ARNs in this stack's account {account_id} only ({', '.join(foreign)} is not)",
        )
    # CreateKey's lockout check refuses a key policy that does not let its caller manage the key.
    if deployer and deployer not in admins and not any(arn.endswith(":root") for arn in admins):
        reader.fail(
            "key_admin_arns",
            json.dumps(list(admins)),
            f"a list that includes deployer_role_arn ({deployer}) or the account root, or KMS refuses "
            "to create the keys (policy lockout check)",
        )
    return admins


def parse_config(
    raw: Mapping[str, str], *, project: str, stack: str, region: str | None, account_id: str | None = None
) -> StackConfig:
    """Validate raw config values (keys without the namespace) into a StackConfig or raise ConfigError."""
    env_reader = _Reader(raw, {})
    for key in sorted(set(raw) - KNOWN_KEYS):
        if key in FIXED_SETTINGS:
            env_reader.errors.append(f"{NAMESPACE}:{key} {FIXED_SETTINGS[key]}")
            continue
        # A typo must not silently fall back to a default (e.g. log_retention instead of log_retention_days).
        close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
        hint = f"did you mean {NAMESPACE}:{close[0]}? " if close else ""
        env_reader.errors.append(
            f"{NAMESPACE}:{key} is not a known setting; {hint}known settings: {', '.join(sorted(KNOWN_KEYS))}"
        )
    environment = env_reader.choice("environment", ENVIRONMENTS)
    defaults = {**COMMON_DEFAULTS, **ENV_DEFAULTS.get(environment, {})}
    reader = _Reader(raw, defaults)
    reader.errors.extend(env_reader.errors)
    stack_problem = _stack_name_problem(stack, environment)
    if stack_problem:
        reader.errors.append(stack_problem)

    if region is None or not REGION_RE.match(region):
        reader.errors.append(
            f"aws:region = {region!r} is not allowed; allowed values: an AWS region such as eu-west-1"
        )

    host_count = reader.integer("host_count", 1, 10)
    zone_id = reader.optional_text(
        "acme_route53_zone_id", ZONE_ID_RE, "a Route53 hosted zone id such as Z0123456789ABC"
    )
    if zone_id is not None and PLACEHOLDER_MARKER in zone_id:
        reader.fail(
            "acme_route53_zone_id",
            zone_id,
            "the id of your domain's hosted zone (`aws route53 list-hosted-zones`), not the placeholder "
            "the stack file ships",
        )
    if host_count > 1 and zone_id is None:
        reader.fail(
            "acme_route53_zone_id",
            None,
            "a Route53 hosted zone id (required when host_count > 1: certbot uses DNS-01 behind the NLB)",
        )

    # Ansible must get in: SSH needs both the open port and a key pair; without either, SSM (the agent
    # is installed at boot). Hosts behind the load balancer have no public address to SSH to.
    admin_cidr = _admin_cidr(reader)
    key_name = reader.optional_text("ssh_key_name", _KEY_PAIR_RE, "an EC2 key pair name, or unset")
    if admin_cidr is not None and key_name is None:
        reader.fail(
            "ssh_key_name", None, "an EC2 key pair name when ssh_admin_cidr is set (or unset both: SSM only)"
        )
    if key_name is not None and reader._value("ssh_admin_cidr") is None:
        reader.fail(
            "ssh_admin_cidr", None, "your admin CIDR when ssh_key_name is set (or unset both: SSM only)"
        )
    if admin_cidr is not None and host_count > 1:
        reader.fail(
            "ssh_admin_cidr",
            admin_cidr,
            "unset when host_count > 1: the hosts behind the load balancer have no public IP, Ansible "
            "reaches them through SSM",
        )

    allocated = reader.integer("db_allocated_storage_gb", 20, 65536)
    max_allocated = reader.integer("db_max_allocated_storage_gb", 20, 65536)
    if max_allocated * 10 < allocated * 11:
        reader.fail(
            "db_max_allocated_storage_gb",
            str(max_allocated),
            f"an integer >= 110% of db_allocated_storage_gb ({allocated}), i.e. >= {-(-allocated * 11 // 10)}"
            " (RDS storage autoscaling needs 10% headroom)",
        )

    engine_version = reader.text(
        "db_engine_version",
        _PG_VERSION_RE,
        f"a PostgreSQL major with an RDS parameter-group family ({', '.join(PARAMETER_GROUP_FAMILIES)}) "
        "or major.minor, e.g. 17 or 17.6",
    )
    if engine_version and engine_version.split(".")[0] not in PARAMETER_GROUP_FAMILIES:
        reader.fail(
            "db_engine_version",
            engine_version,
            f"a PostgreSQL major with an RDS parameter-group family ({', '.join(PARAMETER_GROUP_FAMILIES)}) "
            "or major.minor, e.g. 17 or 17.6",
        )
        engine_version = "17"

    db_port = reader.integer("db_port", 1150, 65535)
    if db_port == POSTGRES_DEFAULT_PORT:
        reader.fail(
            "db_port",
            str(db_port),
            "any port from 1150 to 65535 but 5432, PostgreSQL's default (FSBP RDS.23), e.g. 5433",
        )

    pi_days = reader.integer(
        "db_performance_insights_retention_days", 7, 731, PERFORMANCE_INSIGHTS_RETENTION_CHOICES
    )

    admin_user = reader.text(
        "db_admin_username",
        PG_IDENT_RE,
        "a lower-case PostgreSQL identifier that is not postgres/admin/root/master",
    )
    if admin_user in RESERVED_DB_USERNAMES:
        reader.fail(
            "db_admin_username",
            admin_user,
            "any lower-case identifier except " + ", ".join(sorted(RESERVED_DB_USERNAMES)),
        )
    app_user = reader.text("db_app_username", PG_IDENT_RE, "a lower-case PostgreSQL identifier")
    if app_user and app_user == admin_user:
        reader.fail(
            "db_app_username",
            app_user,
            "a name different from db_admin_username (the app must not be the admin)",
        )
    if app_user in RESERVED_DB_USERNAMES:
        reader.fail(
            "db_app_username",
            app_user,
            "any lower-case identifier except " + ", ".join(sorted(RESERVED_DB_USERNAMES)),
        )
    owner_user = reader.text("db_owner_username", PG_IDENT_RE, "a lower-case PostgreSQL identifier")
    if owner_user and owner_user in (admin_user, app_user):
        reader.fail(
            "db_owner_username",
            owner_user,
            "a name different from db_admin_username and db_app_username (the schema owner runs "
            "migrations only; the app must not own its tables)",
        )
    if owner_user in RESERVED_DB_USERNAMES:
        reader.fail(
            "db_owner_username",
            owner_user,
            "any lower-case identifier except " + ", ".join(sorted(RESERVED_DB_USERNAMES)),
        )
    db_name = reader.text("db_name", PG_IDENT_RE, "a lower-case PostgreSQL identifier other than postgres")
    if db_name in ("postgres", "template0", "template1", "rdsadmin"):
        reader.fail(
            "db_name",
            db_name,
            "a lower-case PostgreSQL identifier other than postgres/template0/template1/rdsadmin",
        )

    deployer = _deployer(reader, account_id)
    cfg = StackConfig(
        project=project,
        stack=stack,
        environment=environment,
        region=region or "",
        app_name=reader.text("app_name", APP_NAME_RE, APP_NAME_ALLOWED),
        ami_id=reader.text(
            "ami_id",
            _AMI_RE,
            "the pinned AMI id (ami- and 8 or 17 hex digits), e.g. the output of `make ami`; changing it "
            "replaces the hosts",
        ),
        deployer_role_arn=deployer,
        alert_email=reader.optional_text(
            "alert_email", _EMAIL_RE, "an e-mail address for security alerts, or unset"
        ),
        db_port=db_port,
        vpc_cidr=_vpc_cidr(reader),
        az_count=reader.integer("az_count", 2, 3),
        host_count=host_count,
        host_instance_type=reader.text(
            "host_instance_type", _EC2_TYPE_RE, "an EC2 instance type such as t3.small or m7g.large"
        ),
        host_root_volume_gb=reader.integer("host_root_volume_gb", 8, 1024),
        ssh_admin_cidr=admin_cidr,
        ssh_key_name=key_name,
        acme_route53_zone_id=zone_id,
        db_instance_class=reader.text(
            "db_instance_class", _RDS_CLASS_RE, "an RDS instance class such as db.t4g.micro or db.m7g.large"
        ),
        db_engine_version=engine_version or "17",
        db_name=db_name,
        db_admin_username=admin_user,
        db_app_username=app_user,
        db_owner_username=owner_user,
        db_allocated_storage_gb=allocated,
        db_max_allocated_storage_gb=max_allocated,
        db_backup_retention_days=reader.integer("db_backup_retention_days", 7, 35),
        db_multi_az=reader.boolean("db_multi_az"),
        db_deletion_protection=reader.boolean("db_deletion_protection"),
        db_performance_insights_retention_days=pi_days,
        db_monitoring_interval=reader.integer("db_monitoring_interval", 1, 60, MONITORING_INTERVAL_CHOICES),
        log_retention_days=reader.integer("log_retention_days", 365, 3653, LOG_RETENTION_CHOICES),
        secret_recovery_window_days=reader.integer("secret_recovery_window_days", 7, 30),
        audit_checkpoint_retention_days=reader.integer("audit_checkpoint_retention_days", 365, 3653),
        key_admin_arns=_key_admins(reader, account_id, deployer),
        secret_reader_arns=reader.arn_list("secret_reader_arns", ()),
    )
    if environment == "prod":
        # Production minimums (A1.2, CC9.1): losing the database must not be one mistake away.
        if not cfg.db_multi_az:
            reader.fail("db_multi_az", "false", "true in prod")
        if not cfg.db_deletion_protection:
            reader.fail("db_deletion_protection", "false", "true in prod")
        if cfg.db_backup_retention_days < 35:
            reader.fail("db_backup_retention_days", str(cfg.db_backup_retention_days), "35 in prod")
    if not stack_problem and APP_NAME_RE.match(cfg.app_name):
        # The rules above make every derived name valid; this proves it for this stack's values.
        for label, (kind, name) in cfg.derived_names(account_id or "000000000000").items():
            if not valid_name(kind, name):
                reader.errors.append(
                    f"{label} {name!r} (from soc2kit:app_name {cfg.app_name!r} and stack {stack!r}) is not "
                    f"a valid {kind} name; choose a shorter or different app_name or stack name"
                )
    if reader.errors:
        raise ConfigError("invalid stack configuration:\n  - " + "\n  - ".join(reader.errors))
    return cfg


def check_deploying_identity(cfg: StackConfig, caller_arn: str) -> None:
    """Refuse a run by anyone the secrets' resource policies would deny reading back their values.

    The policies name `deployer_role_arn` (and `secret_reader_arns`), never the caller, so CI and a
    person produce the same policies; a caller outside that list would fail halfway through `pulumi up`.
    """
    allowed = (cfg.deployer_role_arn, *cfg.secret_reader_arns)
    session = _ASSUMED_ROLE_RE.match(caller_arn)
    if session is not None:
        account, role = session.groups()
        # A session ARN names the role without its path: compare account and role name.
        ok = any(
            arn.split(":")[4] == account
            and arn.split(":")[5].startswith("role/")
            and arn.endswith(f"/{role}")
            for arn in allowed
        )
    else:
        ok = caller_arn in allowed
    if not ok:
        raise ConfigError(
            f"this run's AWS identity {caller_arn} is not {NAMESPACE}:deployer_role_arn "
            f"({cfg.deployer_role_arn}) nor in {NAMESPACE}:secret_reader_arns: the secrets' policies would "
            "deny it reading back their values halfway through `pulumi up`; assume the deployer role "
            "(e.g. AWS_PROFILE with role_arn) or add your role to secret_reader_arns"
        )


def _configured_keys() -> set[str]:
    """The soc2kit:* keys this stack sets. The SDK has no public listing, so read its two sources."""
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return {key.split(":", 1)[1] for key in keys if key.startswith(f"{NAMESPACE}:")}


def load_config(account_id: str) -> StackConfig:
    """Read this stack's config (namespace soc2kit, plus aws:region) and validate it."""
    config = pulumi.Config(NAMESPACE)
    raw = {key: value for key in sorted(_configured_keys()) if (value := config.get(key)) is not None}
    return parse_config(
        raw,
        project=pulumi.get_project(),
        stack=pulumi.get_stack(),
        region=pulumi.Config("aws").get("region"),
        account_id=account_id,
    )
