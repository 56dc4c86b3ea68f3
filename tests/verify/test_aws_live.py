"""Live AWS settings read back with boto3, against moto: RDS (CMK, force_ssl, backups), KMS rotation,
secrets under the secrets CMK. Also the policy-pack preview verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from kit.verify import aws_live
from kit.verify.result import ERROR, FAIL, PASS, CheckError
from moto import mock_aws

REGION = "eu-west-1"


@pytest.fixture
def aws(monkeypatch):
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with mock_aws():
        yield


def _stack(force_ssl: str = "1", rotate: bool = True, secrets_cmk: bool = True, backups: int = 7) -> dict:
    kms, rds, sm = (boto3.client(s, REGION) for s in ("kms", "rds", "secretsmanager"))
    keys = {}
    for purpose in ("database", "secrets", "field_encryption"):
        arn = kms.create_key(Description=purpose)["KeyMetadata"]["Arn"]
        if rotate or purpose != "field_encryption":
            kms.enable_key_rotation(KeyId=arn)
        keys[purpose] = arn
    kms.create_alias(AliasName="alias/soc2kit-dev-secrets", TargetKeyId=keys["secrets"])
    rds.create_db_parameter_group(
        DBParameterGroupName="soc2kit-dev-pg16", DBParameterGroupFamily="postgres16", Description="soc2kit"
    )
    rds.modify_db_parameter_group(
        DBParameterGroupName="soc2kit-dev-pg16",
        Parameters=[
            {"ParameterName": "rds.force_ssl", "ParameterValue": force_ssl, "ApplyMethod": "immediate"}
        ],
    )
    db = rds.create_db_instance(
        DBInstanceIdentifier="soc2kit-dev-db",
        DBInstanceClass="db.t4g.micro",
        Engine="postgres",
        MasterUsername="admin_user",
        MasterUserPassword="not-a-real-password-1",
        AllocatedStorage=20,
        StorageEncrypted=True,
        KmsKeyId=keys["database"],
        DBParameterGroupName="soc2kit-dev-pg16",
        BackupRetentionPeriod=backups,
    )["DBInstance"]
    secret_arns = {}
    for name in ("django_secret_key", "field_encryption_key"):
        extra = {"KmsKeyId": "alias/soc2kit-dev-secrets"} if secrets_cmk else {}
        secret_arns[name] = sm.create_secret(Name=f"soc2kit/dev/{name}", SecretString="x" * 40, **extra)[
            "ARN"
        ]
    return {
        "region": REGION,
        "db_endpoint": db["Endpoint"]["Address"],
        "kms_key_arns": keys,
        "secret_arns": secret_arns,
    }


def test_good_stack_passes_all_three(aws, make_context):
    ctx = make_context(env="dev", stack_outputs=_stack())
    rds, _ = aws_live.rds_settings(ctx)
    assert rds.status == PASS, rds.summary
    assert rds.figures["rds.force_ssl"] == "1"
    assert rds.figures["backup_retention_days"] == 7
    kms, _ = aws_live.kms_rotation(ctx)
    assert kms.status == PASS, kms.summary
    secrets, _ = aws_live.secrets_encryption(ctx)
    assert secrets.status == PASS, secrets.summary


def test_force_ssl_off_fails(aws, make_context):
    outcome, _ = aws_live.rds_settings(make_context(env="dev", stack_outputs=_stack(force_ssl="0")))
    assert outcome.status == FAIL
    assert "rds.force_ssl is '0'" in outcome.summary


def test_backups_off_fail(aws, make_context):
    outcome, _ = aws_live.rds_settings(make_context(env="dev", stack_outputs=_stack(backups=0)))
    assert outcome.status == FAIL
    assert "backups are off" in outcome.summary


def test_database_on_another_key_fails(aws, make_context):
    outputs = _stack()
    outputs["kms_key_arns"]["database"] = outputs["kms_key_arns"]["secrets"]
    outcome, _ = aws_live.rds_settings(make_context(env="dev", stack_outputs=outputs))
    assert outcome.status == FAIL
    assert "not the stack's database CMK" in outcome.summary


def test_rotation_off_fails_naming_the_key(aws, make_context):
    outcome, _ = aws_live.kms_rotation(make_context(env="dev", stack_outputs=_stack(rotate=False)))
    assert outcome.status == FAIL
    assert outcome.summary == "field_encryption key: automatic rotation is off"


def test_old_key_material_fails(aws, make_context):
    ctx = make_context(env="dev", stack_outputs=_stack())
    outcome, _ = aws_live.kms_rotation(ctx, now=datetime.now(UTC) + timedelta(days=400))
    assert outcome.status == FAIL
    assert "last rotated" in outcome.summary


def test_secret_under_the_aws_managed_key_fails(aws, make_context):
    outcome, _ = aws_live.secrets_encryption(make_context(env="dev", stack_outputs=_stack(secrets_cmk=False)))
    assert outcome.status == FAIL
    assert "AWS-managed key" in outcome.summary


def test_missing_outputs_are_an_error(aws, make_context):
    with pytest.raises(CheckError, match="db_endpoint"):
        aws_live.rds_settings(make_context(env="dev", stack_outputs={"region": REGION}))


def test_policy_preview_verdicts():
    assert (
        aws_live.evaluate_policy_preview("Previewing update (dev)\nResources: 40 unchanged", 0).status == PASS
    )
    violations = (
        "Policy Violations:\n"
        "    [mandatory]  soc2kit-aws v0.0.1  rds-encrypted-with-cmk (aws:rds/instance:Instance: db)\n"
    )
    failed = aws_live.evaluate_policy_preview(violations, 255)
    assert failed.status == FAIL
    assert "rds-encrypted-with-cmk" in failed.summary
    assert aws_live.evaluate_policy_preview("error: no stack named 'dev'", 255).status == ERROR


def test_policy_pack_without_the_cli_is_an_error(make_context, monkeypatch):
    monkeypatch.setattr(aws_live.shutil, "which", lambda name: None)
    with pytest.raises(CheckError, match="pulumi CLI"):
        aws_live.policy_pack(make_context(env="dev"))
