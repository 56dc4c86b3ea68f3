"""The audit checkpoint bucket: Object Lock in compliance mode, versioned, private, TLS-only, encrypted
with the stack's audit key, expiring only after its retention; the hosts may add and read, never delete."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.harness import StackRun, key_arn, run_program, stack_config

NAME = "audit-checkpoints"
BUCKET_NAME = "soc2kit-dev-audit-20261203000000000000000001"  # prefix + the mocks' unique suffix
BUCKET_ARN = f"arn:aws:s3:::{BUCKET_NAME}"


def _one(run: StackRun, resource_type: str, suffix: str) -> dict[str, Any]:
    return run.one(resource_type, f"{NAME}-{suffix}").inputs


def test_bucket_is_exported_for_the_inventory(dev: StackRun, prod: StackRun) -> None:
    assert _one(dev, "aws:s3/bucket:Bucket", "bucket")["bucketPrefix"] == "soc2kit-dev-audit-"
    assert dev.exports["audit_checkpoint_bucket"] == BUCKET_NAME
    assert prod.exports["audit_checkpoint_bucket"] == "soc2kit-prod-audit-20261203000000000000000001"


def test_bucket_keeps_checkpoints_under_compliance_lock_for_400_days(dev: StackRun) -> None:
    assert _one(dev, "aws:s3/bucket:Bucket", "bucket")["objectLockEnabled"] is True
    lock = _one(dev, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "object-lock")
    assert lock["objectLockEnabled"] == "Enabled"
    assert lock["rule"] == {"defaultRetention": {"mode": "COMPLIANCE", "days": 400}}


def test_retention_follows_config_and_refuses_less_than_a_year() -> None:
    run = run_program(stack_config("dev") | {"soc2kit:audit_checkpoint_retention_days": "731"}, stack="dev")
    lock = _one(run, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "object-lock")
    assert lock["rule"]["defaultRetention"]["days"] == 731
    from config import ConfigError, parse_config

    raw = {k.split(":", 1)[1]: v for k, v in stack_config("dev").items() if k.startswith("soc2kit:")}
    with pytest.raises(ConfigError, match=r"soc2kit:audit_checkpoint_retention_days = '90' is not allowed"):
        parse_config(
            raw | {"audit_checkpoint_retention_days": "90"},
            project="soc2kit",
            stack="dev",
            region="eu-west-1",
            account_id="111122223333",
        )


def test_bucket_is_versioned(dev: StackRun) -> None:
    versioning = _one(dev, "aws:s3/bucketVersioning:BucketVersioning", "versioning")
    assert versioning["versioningConfiguration"] == {"status": "Enabled"}


def test_bucket_blocks_all_public_access(dev: StackRun) -> None:
    block = _one(dev, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "public-access-block")
    for setting in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        assert block[setting] is True


def test_bucket_encrypted_with_the_audit_cmk(dev: StackRun) -> None:
    encryption = _one(
        dev,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "encryption",
    )
    default = encryption["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn("audit")}


def test_audit_key_usable_only_through_s3(dev: StackRun) -> None:
    policy = json.loads(dev.one("aws:kms/key:Key", "keys-audit").inputs["policy"])
    use = next(s for s in policy["Statement"] if s["Sid"] == "S3AuditCheckpointsUse")
    assert use["Condition"]["StringEquals"]["kms:ViaService"] == "s3.eu-west-1.amazonaws.com"


def test_bucket_policy_refuses_plain_http_and_every_delete(dev: StackRun) -> None:
    statements = {
        s["Sid"]: s
        for s in json.loads(_one(dev, "aws:s3/bucketPolicy:BucketPolicy", "policy")["policy"])["Statement"]
    }
    assert statements["DenyPlainHttp"]["Effect"] == "Deny"
    assert statements["DenyPlainHttp"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    deletes = statements["DenyDeletingCheckpoints"]
    assert deletes["Effect"] == "Deny"
    assert deletes["Principal"] == "*"
    assert {"s3:DeleteObject", "s3:DeleteObjectVersion"} <= set(deletes["Action"])
    assert deletes["Resource"] == f"{BUCKET_ARN}/*"


def test_checkpoints_expire_only_after_their_retention(dev: StackRun) -> None:
    (rule,) = _one(dev, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "lifecycle")[
        "rules"
    ]
    assert rule["status"] == "Enabled"
    assert rule["expiration"]["days"] == 401
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 401
    assert rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 1


def test_host_role_may_put_get_and_list_checkpoints_but_never_delete(dev: StackRun, prod: StackRun) -> None:
    for run in (dev, prod):
        document = json.loads(
            run.one("aws:iam/rolePolicy:RolePolicy", "hosts-least-privilege").inputs["policy"]
        )
        statements = {s["Sid"]: s for s in document["Statement"]}
        bucket_arn = f"arn:aws:s3:::{run.exports['audit_checkpoint_bucket']}"
        objects = statements["AuditCheckpointsPutAndGet"]
        assert objects["Action"] == ["s3:PutObject", "s3:PutObjectRetention", "s3:GetObject"]
        assert objects["Resource"] == f"{bucket_arn}/checkpoints/*"
        listing = statements["AuditCheckpointsList"]
        assert listing["Action"] == "s3:ListBucket"
        assert listing["Resource"] == bucket_arn
        key = statements["AuditCheckpointsKeyViaS3"]
        assert key["Resource"] == key_arn("audit")
        assert key["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
        on_bucket = [s for s in document["Statement"] if bucket_arn in json.dumps(s["Resource"])]
        actions = {
            a for s in on_bucket for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        }
        assert not [a for a in actions if "Delete" in a or a.endswith("*") or "Bypass" in a]


def test_inventory_hands_the_bucket_to_the_app_hosts(dev: StackRun) -> None:
    import importlib

    module = importlib.import_module("kit.inventory")
    outputs = json.loads(json.dumps(dev.exports))
    group_vars = module.build_inventory(outputs, "dev")["app_hosts"]["vars"]
    assert group_vars["soc2kit_audit_checkpoint_bucket"] == BUCKET_NAME
