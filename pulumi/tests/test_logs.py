"""Logs: every log group encrypted with the logs CMK, retention from config (>= 90 days)."""

from __future__ import annotations

from tests.harness import StackRun, key_arn, run_program, stack_config

GROUP = "aws:cloudwatch/logGroup:LogGroup"


def test_host_log_groups_exist_for_app_web_audit_system(dev: StackRun) -> None:
    names = {g.inputs["name"] for g in dev.of_type(GROUP)}
    assert {"/soc2kit/dev/app", "/soc2kit/dev/web", "/soc2kit/dev/audit", "/soc2kit/dev/system"} <= names


def test_every_log_group_encrypted_with_logs_key(dev: StackRun) -> None:
    groups = dev.of_type(GROUP)
    assert len(groups) == 7  # 4 host groups, 2 RDS exports, VPC flow logs
    assert {g.inputs.get("kmsKeyId") for g in groups} == {key_arn("logs")}


def test_every_log_group_retained_365_days_by_default(dev: StackRun) -> None:
    assert {g.inputs.get("retentionInDays") for g in dev.of_type(GROUP)} == {365}


def test_log_retention_follows_config() -> None:
    run = run_program(stack_config("dev") | {"soc2kit:log_retention_days": "731"}, stack="retention")
    assert {g.inputs["retentionInDays"] for g in run.of_type(GROUP)} == {731}


def test_prod_protects_every_log_group_dev_none(prod: StackRun, dev: StackRun) -> None:
    """They hold a year of audit logs: `pulumi destroy` must stop before deleting them."""
    assert len(prod.of_type(GROUP)) == 7
    assert {prod.protected[g.name] for g in prod.of_type(GROUP)} == {True}
    assert {dev.protected[g.name] for g in dev.of_type(GROUP)} == {False}
