"""SSM mode: the bucket Ansible copies files through is private, KMS-encrypted, TLS-only, short-lived."""

from __future__ import annotations

import json

from tests.harness import StackRun, key_arn

BUCKET = "aws:s3/bucket:Bucket"


def test_ssm_only_stack_has_transfer_bucket_and_exports_it(dev: StackRun) -> None:
    bucket = dev.one(BUCKET, "ssm-transfer-bucket")
    assert bucket.inputs["bucket"] == "soc2kit-dev-ssm-123456789012-eu-west-1"
    assert dev.exports["ssm_bucket_name"] == bucket.inputs["bucket"]
    assert dev.exports["ssh_admin_cidr"] is None


def test_ssh_stack_has_no_transfer_bucket(dev_with_ssh: StackRun) -> None:
    assert not [b for b in dev_with_ssh.of_type(BUCKET) if b.name.startswith("ssm-transfer")]
    assert "ssm_bucket_name" not in dev_with_ssh.exports
    assert dev_with_ssh.exports["ssh_admin_cidr"] == "203.0.113.0/24"


def test_transfer_bucket_blocks_all_public_access(dev: StackRun) -> None:
    block = dev.one(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "ssm-transfer-public-access-block"
    )
    for setting in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        assert block.inputs[setting] is True


def test_transfer_bucket_encrypted_with_its_own_cmk(dev: StackRun) -> None:
    encryption = dev.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "ssm-transfer-encryption",
    )
    default = encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn("ssm_transfer")}


def test_transfer_bucket_refuses_plain_http(dev: StackRun) -> None:
    policy = dev.one("aws:s3/bucketPolicy:BucketPolicy", "ssm-transfer-tls-only")
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_transfer_objects_and_their_old_versions_expire_after_a_day(dev: StackRun) -> None:
    lifecycle = dev.one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "ssm-transfer-lifecycle"
    )
    (rule,) = lifecycle.inputs["rules"]
    assert rule["status"] == "Enabled"
    assert rule["expiration"]["days"] == 1
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 1


def test_transfer_bucket_is_versioned(dev: StackRun) -> None:
    """FSBP S3.14, required of every bucket we create (shared contract)."""
    [versioning] = [
        v
        for v in dev.of_type("aws:s3/bucketVersioning:BucketVersioning")
        if v.inputs["bucket"] == "ssm-transfer-bucket-id"
    ]
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}


def test_host_role_reaches_only_the_transfer_bucket_objects(dev: StackRun) -> None:
    document = json.loads(dev.one("aws:iam/rolePolicy:RolePolicy", "hosts-least-privilege").inputs["policy"])
    statements = {s["Sid"]: s for s in document["Statement"]}
    assert (
        statements["AnsibleSsmTransferObjects"]["Resource"]
        == "arn:aws:s3:::soc2kit-dev-ssm-123456789012-eu-west-1/*"
    )
    assert statements["AnsibleSsmTransferKeyViaS3"]["Resource"] == key_arn("ssm_transfer")
    assert statements["AnsibleSsmTransferKeyViaS3"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    }
