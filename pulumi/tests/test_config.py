"""Config: bad values fail before any resource exists, naming the key and the allowed values."""

from __future__ import annotations

import pytest
from config import ConfigError, StackConfig, parse_config

from tests.harness import StackRun, run_program, stack_config

BASE = {"environment": "dev"}


def parse(**values: str) -> StackConfig:
    return parse_config(
        {**BASE, **values}, project="soc2kit", stack="dev", region="eu-west-1", account_id="111122223333"
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
    assert dev.key_admin_arns == ("arn:aws:iam::111122223333:root",)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_shipped_stack_files_are_valid(stack: str) -> None:
    raw = {k.split(":", 1)[1]: v for k, v in stack_config(stack).items() if k.startswith("soc2kit:")}
    cfg = parse_config(
        raw,
        project="soc2kit",
        stack=stack,
        region=stack_config(stack)["aws:region"],
        account_id="111122223333",
    )
    assert cfg.environment == stack


def test_missing_environment() -> None:
    with pytest.raises(ConfigError, match=r"soc2kit:environment = \(missing\).*one of dev, staging, prod"):
        parse_config({}, project="p", stack="s", region="eu-west-1")


def test_unknown_environment() -> None:
    rejects("environment", "one of dev, staging, prod", environment="production")


def test_missing_region() -> None:
    with pytest.raises(ConfigError, match=r"aws:region = None.*eu-west-1"):
        parse_config(BASE, project="p", stack="s", region=None)


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


@pytest.mark.parametrize("days", ["30", "60", "89", "100", "0"])
def test_log_retention_below_90_days_or_not_a_cloudwatch_value(days: str) -> None:
    rejects("log_retention_days", "one of 90, 120", log_retention_days=days)


@pytest.mark.parametrize(
    "cidr", ["0.0.0.0/0", "10.0.0.0/8", "::/0", "203.0.113.7/33", "not-a-cidr", "203.0.113.1/24"]
)
def test_admin_cidr_world_or_too_wide_or_malformed(cidr: str) -> None:
    rejects("ssh_admin_cidr", "no wider than /16", ssh_admin_cidr=cidr)


def test_admin_cidr_unset_means_no_ssh() -> None:
    assert parse().ssh_admin_cidr is None
    assert parse(ssh_admin_cidr="203.0.113.0/24").ssh_admin_cidr == "203.0.113.0/24"


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


@pytest.mark.parametrize("value", ["15", "9.6", "latest", "17.x"])
def test_unsupported_postgres_version(value: str) -> None:
    rejects("db_engine_version", "a PostgreSQL major (16-19)", db_engine_version=value)


@pytest.mark.parametrize("cidr", ["8.8.0.0/16", "10.0.0.0/8", "10.0.0.0/24", "garbage"])
def test_vpc_cidr_must_be_private_16_to_20(cidr: str) -> None:
    rejects("vpc_cidr", "a private (RFC 1918) IPv4 CIDR from /16 to /20", vpc_cidr=cidr)


def test_max_storage_below_allocated() -> None:
    rejects(
        "db_max_allocated_storage_gb",
        ">= db_allocated_storage_gb (100)",
        db_allocated_storage_gb="100",
        db_max_allocated_storage_gb="50",
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
