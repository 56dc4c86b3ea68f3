"""Database: every RDS control the issue lists, one test each."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import StackRun, key_arn

INSTANCE = "aws:rds/instance:Instance"


def db(run: StackRun) -> dict[str, Any]:
    return run.one(INSTANCE, "database-postgres").inputs


def test_postgres_current_major(dev: StackRun) -> None:
    assert db(dev)["engine"] == "postgres"
    assert db(dev)["engineVersion"] == "17"


def test_storage_encrypted_with_database_cmk(dev: StackRun) -> None:
    assert db(dev)["storageEncrypted"] is True
    assert db(dev)["kmsKeyId"] == key_arn("database")


def test_parameter_group_forces_tls_and_logs_connections_and_ddl(dev: StackRun) -> None:
    group = dev.one("aws:rds/parameterGroup:ParameterGroup", "database-params").inputs
    parameters = {p["name"]: p["value"] for p in group["parameters"]}
    assert group["family"] == "postgres17"
    assert parameters["rds.force_ssl"] == "1"
    assert parameters["log_connections"] == "1"
    assert parameters["log_disconnections"] == "1"
    assert parameters["log_statement"] == "ddl"
    assert db(dev)["parameterGroupName"] == group["name"]


def test_not_publicly_accessible(dev: StackRun) -> None:
    assert db(dev)["publiclyAccessible"] is False


def test_only_in_private_subnets_and_database_security_group(dev: StackRun) -> None:
    subnet_group = dev.one("aws:rds/subnetGroup:SubnetGroup", "database-subnets").inputs
    assert subnet_group["subnetIds"] == ["network-private-0-id", "network-private-1-id"]
    assert db(dev)["dbSubnetGroupName"] == subnet_group["name"]
    assert db(dev)["vpcSecurityGroupIds"] == ["network-database-sg-id"]


def test_master_password_managed_by_rds_with_secrets_cmk(dev: StackRun) -> None:
    assert db(dev)["manageMasterUserPassword"] is True
    assert db(dev)["masterUserSecretKmsKeyId"] == key_arn("secrets")
    assert "password" not in db(dev)
    assert "passwordWo" not in db(dev)


def test_iam_database_authentication_enabled(dev: StackRun) -> None:
    assert db(dev)["iamDatabaseAuthenticationEnabled"] is True


@pytest.mark.parametrize(("stack", "days"), [("dev", 7), ("staging", 14), ("prod", 35)])
def test_automated_backup_retention_per_environment(
    stack: str, days: int, request: pytest.FixtureRequest
) -> None:
    run: StackRun = request.getfixturevalue(stack)
    assert db(run)["backupRetentionPeriod"] == days
    assert db(run)["deleteAutomatedBackups"] is False


def test_final_snapshot_taken_on_delete(dev: StackRun) -> None:
    assert db(dev)["skipFinalSnapshot"] is False
    assert db(dev)["finalSnapshotIdentifier"] == "soc2kit-dev-db-final"


def test_prod_has_deletion_protection_and_multi_az(prod: StackRun, dev: StackRun) -> None:
    assert db(prod)["deletionProtection"] is True
    assert db(prod)["multiAz"] is True
    assert db(dev)["deletionProtection"] is False  # dev is meant to be torn down


def test_copies_tags_to_snapshots(dev: StackRun) -> None:
    assert db(dev)["copyTagsToSnapshot"] is True


def test_exports_logs_into_precreated_encrypted_groups(dev: StackRun) -> None:
    assert db(dev)["enabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]
    groups = {g.inputs["name"]: g.inputs for g in dev.of_type("aws:cloudwatch/logGroup:LogGroup")}
    for export in ("postgresql", "upgrade"):
        group = groups[f"/aws/rds/instance/{db(dev)['identifier']}/{export}"]
        assert group["kmsKeyId"] == key_arn("logs")


def test_performance_insights_encrypted_with_cmk(dev: StackRun) -> None:
    assert db(dev)["performanceInsightsEnabled"] is True
    assert db(dev)["performanceInsightsKmsKeyId"] == key_arn("database")


def test_enhanced_monitoring_with_its_own_role(dev: StackRun) -> None:
    assert db(dev)["monitoringInterval"] == 60
    assert db(dev)["monitoringRoleArn"] == "arn:aws:iam::111122223333:role/soc2kit-dev-rds-monitoring"
    role = dev.one("aws:iam/role:Role", "database-monitoring-role").inputs
    assert "monitoring.rds.amazonaws.com" in role["assumeRolePolicy"]


def test_automatic_minor_version_upgrades(dev: StackRun) -> None:
    assert db(dev)["autoMinorVersionUpgrade"] is True


def test_admin_user_name_is_not_a_default(dev: StackRun) -> None:
    assert db(dev)["username"] not in ("postgres", "admin", "root", "master")


def test_tls_certificate_authority_is_current(dev: StackRun) -> None:
    assert db(dev)["caCertIdentifier"] == "rds-ca-rsa2048-g1"
