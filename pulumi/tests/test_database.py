"""Database: every RDS control the issue lists, one test each."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.harness import StackRun, generated_hex, key_arn

INSTANCE = "aws:rds/instance:Instance"


def db(run: StackRun) -> dict[str, Any]:
    return run.one(INSTANCE, "database-postgres").inputs


def test_postgres_current_major(dev: StackRun) -> None:
    assert db(dev)["engine"] == "postgres"
    assert db(dev)["engineVersion"] == "17"


def test_storage_encrypted_with_database_cmk(dev: StackRun) -> None:
    assert db(dev)["storageEncrypted"] is True
    assert db(dev)["kmsKeyId"] == key_arn("database")


# Every parameter, written out: a lowered or removed one (e.g. TLSv1) fails here.
EXPECTED_PARAMETERS = [
    {"name": "rds.force_ssl", "value": "1", "applyMethod": "pending-reboot"},
    {"name": "ssl_min_protocol_version", "value": "TLSv1.2", "applyMethod": "pending-reboot"},
    {"name": "password_encryption", "value": "scram-sha-256", "applyMethod": "pending-reboot"},
    {"name": "log_connections", "value": "1", "applyMethod": "pending-reboot"},
    {"name": "log_disconnections", "value": "1", "applyMethod": "pending-reboot"},
    {"name": "log_statement", "value": "ddl", "applyMethod": "pending-reboot"},
    {"name": "log_min_duration_statement", "value": "1000", "applyMethod": "pending-reboot"},
]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_parameter_group_sets_exactly_the_written_parameters(
    stack: str, request: pytest.FixtureRequest
) -> None:
    run: StackRun = request.getfixturevalue(stack)
    group = run.one("aws:rds/parameterGroup:ParameterGroup", "database-params").inputs
    assert sorted(group["parameters"], key=lambda p: p["name"]) == sorted(
        EXPECTED_PARAMETERS, key=lambda p: p["name"]
    )
    assert group["family"] == "postgres17"
    assert group["name"] == f"soc2kit-{stack}-postgres17"
    assert db(run)["parameterGroupName"] == group["name"]


def test_database_listens_on_5433_not_the_default_port(dev: StackRun) -> None:
    """FSBP RDS.23."""
    assert db(dev)["port"] == 5433
    assert dev.exports["db_port"] == 5433


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


def test_final_snapshot_taken_on_delete_under_a_name_unique_per_database(dev: StackRun) -> None:
    """A fixed name fails the second destroy; the suffix is generated once, kept in state (no diff
    on later runs) and new after destroy-then-deploy."""
    assert db(dev)["skipFinalSnapshot"] is False
    suffix = dev.one("random:index/randomId:RandomId", "database-final-snapshot-suffix").inputs
    assert suffix["keepers"] == {"identifier": "soc2kit-dev-db"}
    assert suffix["byteLength"] == 4
    assert (
        db(dev)["finalSnapshotIdentifier"]
        == f"soc2kit-dev-db-final-{generated_hex('database-final-snapshot-suffix', 4)}"
    )


def test_prod_protects_database_dev_does_not(prod: StackRun, dev: StackRun) -> None:
    assert prod.protected["database-postgres"] is True
    assert dev.protected["database-postgres"] is False


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
    assert db(dev)["monitoringRoleArn"] == "arn:aws:iam::123456789012:role/soc2kit-dev-rds-monitoring"
    role = dev.one("aws:iam/role:Role", "database-monitoring-role").inputs
    assert json.loads(role["assumeRolePolicy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "monitoring.rds.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
            }
        ],
    }


def test_automatic_minor_version_upgrades(dev: StackRun) -> None:
    assert db(dev)["autoMinorVersionUpgrade"] is True


def test_admin_user_name_is_not_a_default(dev: StackRun) -> None:
    assert db(dev)["username"] not in ("postgres", "admin", "root", "master")


def test_tls_certificate_authority_is_current(dev: StackRun) -> None:
    assert db(dev)["caCertIdentifier"] == "rds-ca-rsa2048-g1"
