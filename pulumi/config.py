"""Stack configuration: read once, validated, typed.

Every component takes a `StackConfig`; none reads Pulumi config itself. `parse_config` works on a
plain mapping of key -> string so that it is testable without the Pulumi runtime; `load_config`
feeds it the stack's values. All problems are collected and reported together, each naming the key
and what values are allowed, before any resource is declared.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pulumi.runtime import config as runtime_config

import pulumi

NAMESPACE = "soc2kit"
ENVIRONMENTS = ("dev", "staging", "prod")

# CloudWatch Logs accepts only these retention periods; anything below 90 days is refused (CC7.2).
LOG_RETENTION_CHOICES = (90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
MONITORING_INTERVAL_CHOICES = (1, 5, 10, 15, 30, 60)
# RDS accepts 7 days, 1-23 months of 31 days, or 731 days.
PERFORMANCE_INSIGHTS_RETENTION_CHOICES = (7, *range(31, 714, 31), 731)
# PostgreSQL role names that RDS reserves or that every scanner tries first.
RESERVED_DB_USERNAMES = frozenset(
    {"postgres", "admin", "administrator", "root", "rdsadmin", "master", "user"}
)

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
    "secret_recovery_window_days": "30",
    # Compliance-mode Object Lock retention of the audit checkpoints (a year of evidence at least).
    "audit_checkpoint_retention_days": "400",
}

OPTIONAL_KEYS = (
    "environment",
    "ssh_admin_cidr",
    "ssh_key_name",
    "acme_route53_zone_id",
    "key_admin_arns",
    "secret_reader_arns",
)
KNOWN_KEYS = (
    frozenset(COMMON_DEFAULTS) | {k for d in ENV_DEFAULTS.values() for k in d} | frozenset(OPTIONAL_KEYS)
)

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}$")
_REGION_RE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_EC2_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+$")
_RDS_CLASS_RE = re.compile(r"^db\.[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+$")
_PG_VERSION_RE = re.compile(r"^(1[6-9])(\.\d+)?$")
_PG_IDENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_ZONE_ID_RE = re.compile(r"^Z[A-Z0-9]{1,32}$")
_KEY_PAIR_RE = re.compile(r"^[\w.\-]{1,255}$")
_IAM_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(root|role/[\w+=,.@/-]+|user/[\w+=,.@/-]+)$")
# Graviton families (t4g, m7g, c7gn, ...) need the arm64 AMI.
_ARM_FAMILY_RE = re.compile(r"^[a-z]+\d+g[a-z]*\.")


class ConfigError(ValueError):
    """One or more stack config values are missing or not allowed."""


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    environment: str
    region: str
    app_name: str
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
        return f"{self.prefix}-db"

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
    if network.version != 4 or not network.is_private or not 16 <= network.prefixlen <= 20:
        reader.fail("vpc_cidr", value, allowed)
        return "10.40.0.0/16"
    return str(network)


def parse_config(
    raw: Mapping[str, str], *, project: str, stack: str, region: str | None, account_id: str | None = None
) -> StackConfig:
    """Validate raw config values (keys without the namespace) into a StackConfig or raise ConfigError."""
    env_reader = _Reader(raw, {})
    for key in sorted(set(raw) - KNOWN_KEYS):
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

    if region is None or not _REGION_RE.match(region):
        reader.errors.append(
            f"aws:region = {region!r} is not allowed; allowed values: an AWS region such as eu-west-1"
        )

    host_count = reader.integer("host_count", 1, 10)
    zone_id = reader.optional_text(
        "acme_route53_zone_id", _ZONE_ID_RE, "a Route53 hosted zone id such as Z0123456789ABC"
    )
    if host_count > 1 and zone_id is None:
        reader.fail(
            "acme_route53_zone_id",
            None,
            "a Route53 hosted zone id (required when host_count > 1: certbot uses DNS-01 behind the NLB)",
        )

    allocated = reader.integer("db_allocated_storage_gb", 20, 65536)
    max_allocated = reader.integer("db_max_allocated_storage_gb", 20, 65536)
    if max_allocated < allocated:
        reader.fail(
            "db_max_allocated_storage_gb",
            str(max_allocated),
            f"an integer >= db_allocated_storage_gb ({allocated})",
        )

    pi_days = reader.integer(
        "db_performance_insights_retention_days", 7, 731, PERFORMANCE_INSIGHTS_RETENTION_CHOICES
    )

    admin_user = reader.text(
        "db_admin_username",
        _PG_IDENT_RE,
        "a lower-case PostgreSQL identifier that is not postgres/admin/root/master",
    )
    if admin_user in RESERVED_DB_USERNAMES:
        reader.fail(
            "db_admin_username",
            admin_user,
            "any lower-case identifier except " + ", ".join(sorted(RESERVED_DB_USERNAMES)),
        )
    app_user = reader.text("db_app_username", _PG_IDENT_RE, "a lower-case PostgreSQL identifier")
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
    owner_user = reader.text("db_owner_username", _PG_IDENT_RE, "a lower-case PostgreSQL identifier")
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
    db_name = reader.text("db_name", _PG_IDENT_RE, "a lower-case PostgreSQL identifier other than postgres")
    if db_name in ("postgres", "template0", "template1", "rdsadmin"):
        reader.fail(
            "db_name",
            db_name,
            "a lower-case PostgreSQL identifier other than postgres/template0/template1/rdsadmin",
        )

    root = f"arn:aws:iam::{account_id}:root" if account_id else None
    cfg = StackConfig(
        project=project,
        stack=stack,
        environment=environment,
        region=region or "",
        app_name=reader.text(
            "app_name", _NAME_RE, "2-31 characters: lower-case letters, digits, '-', starting with a letter"
        ),
        vpc_cidr=_vpc_cidr(reader),
        az_count=reader.integer("az_count", 2, 3),
        host_count=host_count,
        host_instance_type=reader.text(
            "host_instance_type", _EC2_TYPE_RE, "an EC2 instance type such as t3.small or m7g.large"
        ),
        host_root_volume_gb=reader.integer("host_root_volume_gb", 8, 1024),
        ssh_admin_cidr=_admin_cidr(reader),
        ssh_key_name=reader.optional_text("ssh_key_name", _KEY_PAIR_RE, "an EC2 key pair name, or unset"),
        acme_route53_zone_id=zone_id,
        db_instance_class=reader.text(
            "db_instance_class", _RDS_CLASS_RE, "an RDS instance class such as db.t4g.micro or db.m7g.large"
        ),
        db_engine_version=reader.text(
            "db_engine_version", _PG_VERSION_RE, "a PostgreSQL major (16-19) or major.minor, e.g. 17 or 17.6"
        ),
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
        log_retention_days=reader.integer("log_retention_days", 90, 3653, LOG_RETENTION_CHOICES),
        secret_recovery_window_days=reader.integer("secret_recovery_window_days", 7, 30),
        audit_checkpoint_retention_days=reader.integer("audit_checkpoint_retention_days", 365, 3653),
        key_admin_arns=reader.arn_list("key_admin_arns", (root,) if root else ()),
        secret_reader_arns=reader.arn_list("secret_reader_arns", ()),
    )
    if not cfg.key_admin_arns:
        reader.fail("key_admin_arns", None, "a JSON list of IAM ARNs that administer the KMS keys")
    if environment == "prod":
        # Production minimums (A1.2, CC9.1): losing the database must not be one mistake away.
        if not cfg.db_multi_az:
            reader.fail("db_multi_az", "false", "true in prod")
        if not cfg.db_deletion_protection:
            reader.fail("db_deletion_protection", "false", "true in prod")
        if cfg.db_backup_retention_days < 35:
            reader.fail("db_backup_retention_days", str(cfg.db_backup_retention_days), "35 in prod")
    if reader.errors:
        raise ConfigError("invalid stack configuration:\n  - " + "\n  - ".join(reader.errors))
    return cfg


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
