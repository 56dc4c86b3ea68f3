"""Config: bad values fail before any resource exists, naming the key and the allowed values."""

from __future__ import annotations

import pytest
from config import ConfigError, StackConfig, check_deploying_identity, parse_config

from tests.harness import ACCOUNT_ID, DEPLOYER_ROLE_ARN, StackRun, run_program, stack_config, stack_file

AMI = "ami-0a4c3e5f9b2d71e86"
BASE = {"environment": "dev", "ami_id": AMI, "deployer_role_arn": DEPLOYER_ROLE_ARN}


def parse(stack: str | None = None, **values: str) -> StackConfig:
    """Parse BASE plus `values`; the stack is named after the environment unless given."""
    raw = {**BASE, **values}
    return parse_config(
        raw,
        project="soc2kit",
        stack=stack or raw["environment"],
        region="eu-west-1",
        account_id=ACCOUNT_ID,
    )


def rejects(key: str, allowed: str, **values: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(**values)
    message = str(error.value)
    assert f"soc2kit:{key} = " in message
    assert allowed in message


def test_defaults_per_environment() -> None:
    dev = parse()
    prod = parse(environment="prod", acme_route53_zone_id="Z123ABC")
    assert (dev.db_backup_retention_days, dev.db_multi_az, dev.host_count) == (7, False, 1)
    assert (prod.db_backup_retention_days, prod.db_multi_az, prod.db_deletion_protection) == (35, True, True)
    assert dev.log_retention_days == 365
    assert dev.key_admin_arns == ("arn:aws:iam::123456789012:root",)
    assert (dev.db_port, prod.db_port) == (5433, 5433)


def parse_file(config: dict[str, str], stack: str) -> StackConfig:
    raw = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("soc2kit:")}
    return parse_config(
        raw, project="soc2kit", stack=stack, region=config["aws:region"], account_id=ACCOUNT_ID
    )


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_shipped_stack_files_are_valid(stack: str) -> None:
    cfg = parse_file(stack_file(stack), stack)
    assert cfg.environment == stack
    assert cfg.ami_id == AMI
    assert cfg.deployer_role_arn == DEPLOYER_ROLE_ARN


def test_shipped_prod_file_is_refused_only_for_its_placeholder_zone_id() -> None:
    with pytest.raises(ConfigError) as error:
        parse_file(stack_file("prod"), "prod")
    problems = str(error.value).splitlines()[1:]
    assert len(problems) == 1
    assert "soc2kit:acme_route53_zone_id = 'Z0000000000000EXAMPLE' is not allowed" in problems[0]
    assert "not the placeholder" in problems[0]
    assert parse_file(stack_config("prod"), "prod").acme_route53_zone_id == "Z0123456789ABCDEFGHIJ"


def test_missing_environment() -> None:
    with pytest.raises(ConfigError, match=r"soc2kit:environment = \(missing\).*one of dev, staging, prod"):
        parse_config({}, project="p", stack="s1", region="eu-west-1")


def test_unknown_environment() -> None:
    rejects("environment", "one of dev, staging, prod", environment="production")


def test_missing_region() -> None:
    with pytest.raises(ConfigError, match=r"aws:region = None.*eu-west-1"):
        parse_config(BASE, project="p", stack="s1", region=None)


@pytest.mark.parametrize("days", ["0", "1", "6", "36", "seven"])
def test_backup_retention_below_minimum_or_invalid(days: str) -> None:
    rejects("db_backup_retention_days", "an integer from 7 to 35", db_backup_retention_days=days)


def test_prod_requires_35_day_backups_multi_az_and_deletion_protection() -> None:
    with pytest.raises(ConfigError) as error:
        parse(
            environment="prod",
            acme_route53_zone_id="Z1",
            db_backup_retention_days="14",
            db_multi_az="false",
            db_deletion_protection="false",
        )
    message = str(error.value)
    assert "soc2kit:db_backup_retention_days = '14' is not allowed; allowed values: 35 in prod" in message
    assert "soc2kit:db_multi_az = 'false' is not allowed; allowed values: true in prod" in message
    assert "soc2kit:db_deletion_protection = 'false' is not allowed; allowed values: true in prod" in message


@pytest.mark.parametrize("days", ["30", "90", "180", "364", "366", "0"])
def test_log_retention_below_365_days_or_not_a_cloudwatch_value(days: str) -> None:
    """FSBP CloudWatch.16 asks for at least a year."""
    rejects("log_retention_days", "one of 365, 400, 545", log_retention_days=days)


@pytest.mark.parametrize(
    "cidr", ["0.0.0.0/0", "10.0.0.0/8", "::/0", "203.0.113.7/33", "not-a-cidr", "203.0.113.1/24"]
)
def test_admin_cidr_world_or_too_wide_or_malformed(cidr: str) -> None:
    rejects("ssh_admin_cidr", "no wider than /16", ssh_admin_cidr=cidr)


def test_admin_cidr_unset_means_no_ssh() -> None:
    assert parse().ssh_admin_cidr is None
    assert parse(ssh_admin_cidr="203.0.113.0/24", ssh_key_name="ops").ssh_admin_cidr == "203.0.113.0/24"


@pytest.mark.parametrize("value", ["t3small", "db.t3.micro", "T3.SMALL", "large"])
def test_unknown_host_instance_type_format(value: str) -> None:
    rejects("host_instance_type", "an EC2 instance type such as t3.small", host_instance_type=value)


@pytest.mark.parametrize("value", ["t3.micro", "db.t3", "db-t3-micro", "db.T3.micro"])
def test_unknown_db_instance_class_format(value: str) -> None:
    rejects("db_instance_class", "an RDS instance class such as db.t4g.micro", db_instance_class=value)


@pytest.mark.parametrize("value", ["0", "11", "two"])
def test_host_count_out_of_range(value: str) -> None:
    rejects("host_count", "an integer from 1 to 10", host_count=value)


def test_multi_host_needs_route53_zone_for_dns01() -> None:
    rejects("acme_route53_zone_id", "required when host_count > 1", host_count="2")


def test_malformed_route53_zone_id() -> None:
    rejects("acme_route53_zone_id", "a Route53 hosted zone id", acme_route53_zone_id="example.com")


@pytest.mark.parametrize("name", ["postgres", "admin", "root", "master", "Admin", "1abc"])
def test_default_or_invalid_admin_user_name(name: str) -> None:
    rejects("db_admin_username", "", db_admin_username=name)


def test_app_user_must_differ_from_admin() -> None:
    rejects(
        "db_app_username",
        "different from db_admin_username",
        db_admin_username="boss",
        db_app_username="boss",
    )


@pytest.mark.parametrize("name", ["boss", "app"])
def test_owner_user_must_differ_from_admin_and_app(name: str) -> None:
    rejects(
        "db_owner_username",
        "different from db_admin_username and db_app_username",
        db_admin_username="boss",
        db_app_username="app",
        db_owner_username=name,
    )


@pytest.mark.parametrize("value", ["15", "9.6", "latest", "17.x", "19", "19.1", "20"])
def test_postgres_version_without_an_rds_parameter_group_family(value: str) -> None:
    rejects(
        "db_engine_version", "a PostgreSQL major with an RDS parameter-group family", db_engine_version=value
    )


@pytest.mark.parametrize(
    ("version", "family"), [("16", "postgres16"), ("17.6", "postgres17"), ("18", "postgres18")]
)
def test_postgres_version_maps_to_its_parameter_group_family(version: str, family: str) -> None:
    assert parse(db_engine_version=version).db_parameter_group_family == family


@pytest.mark.parametrize(
    "cidr",
    [
        "8.8.0.0/16",
        "10.0.0.0/8",
        "10.0.0.0/24",
        "garbage",
        "127.0.0.0/16",  # loopback: is_private, not RFC 1918
        "169.254.0.0/16",  # link-local
        "100.64.0.0/16",  # carrier-grade NAT
        "198.18.0.0/16",  # benchmarking
        "172.32.0.0/16",  # just outside 172.16.0.0/12
        "fd00::/48",
    ],
)
def test_vpc_cidr_must_be_rfc1918_16_to_20(cidr: str) -> None:
    rejects("vpc_cidr", "a private (RFC 1918) IPv4 CIDR from /16 to /20", vpc_cidr=cidr)


@pytest.mark.parametrize("cidr", ["10.40.0.0/16", "172.31.0.0/16", "192.168.0.0/20"])
def test_vpc_cidr_rfc1918_accepted(cidr: str) -> None:
    assert parse(vpc_cidr=cidr).vpc_cidr == cidr


@pytest.mark.parametrize(
    ("allocated", "maximum"), [("100", "50"), ("100", "100"), ("100", "109"), ("21", "23")]
)
def test_max_storage_below_110_percent_of_allocated(allocated: str, maximum: str) -> None:
    rejects(
        "db_max_allocated_storage_gb",
        f">= 110% of db_allocated_storage_gb ({allocated})",
        db_allocated_storage_gb=allocated,
        db_max_allocated_storage_gb=maximum,
    )


def test_max_storage_of_110_percent_accepted() -> None:
    assert (
        parse(db_allocated_storage_gb="100", db_max_allocated_storage_gb="110").db_max_allocated_storage_gb
        == 110
    )


@pytest.mark.parametrize("value", ["3", "45", "800"])
def test_performance_insights_retention(value: str) -> None:
    rejects(
        "db_performance_insights_retention_days",
        "one of 7, 31, 62 ... 731",
        db_performance_insights_retention_days=value,
    )


def test_monitoring_interval_must_be_an_rds_value() -> None:
    rejects("db_monitoring_interval", "one of 1, 5, 10, 15, 30, 60", db_monitoring_interval="0")


@pytest.mark.parametrize("value", ["yes", "1", "True"])
def test_booleans_are_true_or_false(value: str) -> None:
    rejects("db_multi_az", "true or false", db_multi_az=value)


@pytest.mark.parametrize("value", ['"arn:aws:iam::1:root"', "[1]", '["arn:aws:s3:::bucket"]', "not json"])
def test_key_admins_must_be_iam_arns(value: str) -> None:
    rejects("key_admin_arns", "a JSON list of IAM ARNs", key_admin_arns=value)


def test_secret_recovery_window_range() -> None:
    rejects("secret_recovery_window_days", "an integer from 7 to 30", secret_recovery_window_days="0")


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        parse(host_count="0", log_retention_days="30", ssh_admin_cidr="0.0.0.0/0")
    assert str(error.value).count("is not allowed") == 3


def test_bad_config_fails_before_any_resource_is_declared() -> None:
    with pytest.raises(ConfigError, match="soc2kit:log_retention_days"):
        run_program(stack_config("dev") | {"soc2kit:log_retention_days": "30"}, stack="bad")


def test_program_declares_nothing_when_config_is_bad() -> None:
    run = StackRun()
    with pytest.raises(ConfigError, match="soc2kit:ssh_admin_cidr"):
        run_program(stack_config("dev") | {"soc2kit:ssh_admin_cidr": "0.0.0.0/0"}, stack="bad2", run=run)
    assert run.resources == []


def test_unknown_key_is_rejected_with_a_suggestion() -> None:
    with pytest.raises(
        ConfigError,
        match=r"soc2kit:log_retention is not a known setting; did you mean soc2kit:log_retention_days\?",
    ):
        parse(log_retention="30")


def test_typo_in_stack_file_fails_the_program() -> None:
    with pytest.raises(ConfigError, match="soc2kit:host_cout is not a known setting"):
        run_program(stack_config("dev") | {"soc2kit:host_cout": "3"}, stack="typo")


# --- Required keys, pinned AMI, deploying identity ------------------------------------------------


@pytest.mark.parametrize("key", ["ami_id", "deployer_role_arn"])
def test_required_key_missing(key: str) -> None:
    values = {k: v for k, v in BASE.items() if k != key}
    with pytest.raises(ConfigError, match=rf"soc2kit:{key} = \(missing\) is not allowed"):
        parse_config(values, project="soc2kit", stack="dev", region="eu-west-1", account_id=ACCOUNT_ID)


@pytest.mark.parametrize(
    "value", ["ami-123", "ami-0A4C3E5F9B2D71E86", "debian-12", "ami-0a4c3e5f9b2d71e8", "latest"]
)
def test_ami_id_must_be_a_pinned_id(value: str) -> None:
    rejects("ami_id", "the pinned AMI id (ami- and 8 or 17 hex digits)", ami_id=value)


@pytest.mark.parametrize("value", ["ami-0123abcd", "ami-0a4c3e5f9b2d71e86"])
def test_ami_id_short_and_long_forms_accepted(value: str) -> None:
    assert parse(ami_id=value).ami_id == value


@pytest.mark.parametrize(
    "value",
    [
        "arn:aws:iam::999988887777:role/soc2kit-deployer",  # another account
        "arn:aws:iam::123456789012:root",  # root is not a deployer
        "arn:aws:sts::123456789012:assumed-role/soc2kit-deployer/ci",  # a session, not the role
        "soc2kit-deployer",
    ],
)
def test_deployer_must_be_a_role_or_user_of_this_account(value: str) -> None:
    rejects("deployer_role_arn", "in this stack's account 123456789012", deployer_role_arn=value)


def test_key_admins_must_be_in_this_account() -> None:
    rejects(
        "key_admin_arns",
        "ARNs in this stack's account 123456789012 only (arn:aws:iam::999988887777:role/Admin is not)",
        key_admin_arns=f'["{DEPLOYER_ROLE_ARN}", "arn:aws:iam::999988887777:role/Admin"]',
    )


def test_key_admins_must_include_the_deployer_or_root() -> None:
    """Otherwise CreateKey fails its policy lockout check halfway through `pulumi up`."""
    rejects(
        "key_admin_arns",
        f"includes deployer_role_arn ({DEPLOYER_ROLE_ARN}) or the account root",
        key_admin_arns='["arn:aws:iam::123456789012:role/Admin"]',
    )
    both = parse(key_admin_arns=f'["arn:aws:iam::123456789012:role/Admin", "{DEPLOYER_ROLE_ARN}"]')
    assert both.key_admin_arns == ("arn:aws:iam::123456789012:role/Admin", DEPLOYER_ROLE_ARN)
    assert parse(key_admin_arns='["arn:aws:iam::123456789012:root"]').key_admin_arns


def test_kms_deletion_window_setting_says_it_is_fixed() -> None:
    with pytest.raises(ConfigError) as error:
        parse(kms_deletion_window_days="7")
    message = str(error.value)
    assert (
        "soc2kit:kms_deletion_window_days is fixed: every KMS key has the maximum 30-day deletion window"
        in message
    )
    assert "did you mean" not in message


# --- Ways in: SSH needs both settings, multi-host is SSM only ---------------------------------------


def test_ssh_admin_cidr_without_key_pair_leaves_no_way_in() -> None:
    rejects(
        "ssh_key_name", "an EC2 key pair name when ssh_admin_cidr is set", ssh_admin_cidr="203.0.113.0/24"
    )


def test_key_pair_without_ssh_admin_cidr_leaves_no_way_in() -> None:
    rejects("ssh_admin_cidr", "your admin CIDR when ssh_key_name is set", ssh_key_name="ops")


def test_ssh_refused_for_hosts_behind_the_load_balancer() -> None:
    rejects(
        "ssh_admin_cidr",
        "unset when host_count > 1: the hosts behind the load balancer have no public IP",
        stack="prod",
        environment="prod",
        acme_route53_zone_id="Z0123456789ABC",
        ssh_admin_cidr="203.0.113.0/24",
        ssh_key_name="ops",
    )


def test_neither_ssh_setting_means_ssm() -> None:
    cfg = parse()
    assert (cfg.ssh_admin_cidr, cfg.ssh_key_name, cfg.ssm_only) == (None, None, True)


# --- Values that look valid but AWS would refuse -----------------------------------------------------


@pytest.mark.parametrize("zone", ["Z0000000000000EXAMPLE", "ZEXAMPLE"])
def test_placeholder_route53_zone_id_refused(zone: str) -> None:
    rejects(
        "acme_route53_zone_id",
        "the id of your domain's hosted zone (`aws route53 list-hosted-zones`), not the placeholder",
        acme_route53_zone_id=zone,
    )


def test_default_postgres_port_refused_by_name() -> None:
    rejects(
        "db_port", "any port from 1150 to 65535 but 5432, PostgreSQL's default (FSBP RDS.23)", db_port="5432"
    )
    rejects("db_port", "an integer from 1150 to 65535", db_port="80")
    assert parse(db_port="6432").db_port == 6432


@pytest.mark.parametrize("value", ["ops", "ops@", "@example.com", "ops@example", "a b@example.com"])
def test_alert_email_must_be_an_address(value: str) -> None:
    rejects("alert_email", "an e-mail address for security alerts", alert_email=value)


# --- Stack name and environment ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "environment", "expected"),
    [
        ("prod", "dev", "'prod'"),
        ("prod", "staging", "'prod'"),
        ("staging", "prod", "'staging'"),
        ("dev", "prod", "'dev'"),
        ("prod-eu", "dev", "'prod'"),
        ("eu-staging-2", "dev", "'staging'"),
    ],
)
def test_stack_named_like_an_environment_must_be_that_environment(
    stack: str, environment: str, expected: str
) -> None:
    """Pulumi.prod.yaml with environment: dev would silently drop every prod minimum and prod rule."""
    with pytest.raises(ConfigError) as error:
        parse(stack=stack, environment=environment, acme_route53_zone_id="Z0123456789ABC")
    refused = f"soc2kit:environment = '{environment}' is not allowed for stack '{stack}'"
    assert f"{refused}; allowed values: {expected}" in str(error.value)


@pytest.mark.parametrize(("stack", "environment"), [("qa", "dev"), ("prod-eu", "prod"), ("demo", "staging")])
def test_other_stack_names_pick_their_environment(stack: str, environment: str) -> None:
    cfg = parse(stack=stack, environment=environment, acme_route53_zone_id="Z0123456789ABC")
    assert cfg.tags["Environment"] == environment
    assert cfg.tags["Stack"] == stack


@pytest.mark.parametrize("stack", ["Prod_1", "prod_1", "Dev", "qa.1", "x", "9lives", "a--b", "qa-", "a" * 32])
def test_stack_names_that_cannot_name_resources(stack: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(stack=stack)
    assert f"stack name {stack!r} is not allowed" in str(error.value)
    assert "pulumi stack rename" in str(error.value)


@pytest.mark.parametrize("name", ["ab-", "a--b", "-ab", "Ab", "a_b", "a", "1ab", "a" * 32])
def test_app_names_that_cannot_name_resources(name: str) -> None:
    rejects("app_name", "lower-case letters and digits in words joined by single hyphens", app_name=name)


@pytest.mark.parametrize(
    ("deployer", "caller", "allowed"),
    [
        (DEPLOYER_ROLE_ARN, "arn:aws:sts::123456789012:assumed-role/soc2kit-deployer/ci", True),
        (
            "arn:aws:iam::123456789012:role/ci/soc2kit-deployer",
            "arn:aws:sts::123456789012:assumed-role/soc2kit-deployer/x",
            True,
        ),
        ("arn:aws:iam::123456789012:user/ci", "arn:aws:iam::123456789012:user/ci", True),
        (DEPLOYER_ROLE_ARN, "arn:aws:sts::123456789012:assumed-role/soc2kit-deployer-old/ci", False),
        (DEPLOYER_ROLE_ARN, "arn:aws:iam::123456789012:user/soc2kit-deployer", False),
        ("arn:aws:iam::123456789012:user/ci", "arn:aws:iam::123456789012:user/ci2", False),
    ],
)
def test_deploying_identity_must_be_the_configured_deployer(
    deployer: str, caller: str, allowed: bool
) -> None:
    cfg = parse(deployer_role_arn=deployer)
    if allowed:
        check_deploying_identity(cfg, caller)
    else:
        with pytest.raises(ConfigError, match="assume the deployer role"):
            check_deploying_identity(cfg, caller)
