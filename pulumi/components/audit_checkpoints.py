"""The S3 bucket the app writes signed audit-trail checkpoints to (`manage.py audit_checkpoint`).

A checkpoint records the audit chain's head outside the database, so deleting the newest audit
entries or truncating the table is found by `verify_audit_chain`. The bucket keeps each checkpoint
under Object Lock in compliance mode: until its retention ends nobody, the account's root user
included, can delete or overwrite it. The hosts' role may add and read checkpoints, never delete; a
bucket policy refuses deletes for every principal as well (a delete marker would hide the latest
checkpoint from a listing). `pulumi destroy` leaves the bucket and its evidence in place
(retain_on_delete); the AWS-chosen name suffix lets the stack be deployed again beside it.
"""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
from config import StackConfig

import pulumi
from components.aws_context import AwsContext

# Where the app puts checkpoints (AUDIT_CHECKPOINTS["S3_PREFIX"] in app/config/settings/base.py).
CHECKPOINT_PREFIX = "checkpoints/"
# S3 caps bucket_prefix at 37 characters; AWS appends a unique suffix.
BUCKET_PREFIX_MAX = 37


def audit_checkpoint_statements(
    ctx: AwsContext, bucket_arn: pulumi.Input[str], key_arn: pulumi.Input[str]
) -> list[dict[str, Any]]:
    """The hosts' role on the checkpoint bucket: put (with its compliance retention), get, list. No delete."""
    return [
        {
            "Sid": "AuditCheckpointsPutAndGet",
            "Effect": "Allow",
            # PutObjectRetention: S3 demands it for the retention header the app sends with each put.
            "Action": ["s3:PutObject", "s3:PutObjectRetention", "s3:GetObject"],
            "Resource": pulumi.Output.concat(bucket_arn, f"/{CHECKPOINT_PREFIX}*"),
        },
        {
            "Sid": "AuditCheckpointsList",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{CHECKPOINT_PREFIX}*"]}},
        },
        {
            "Sid": "AuditCheckpointsKeyViaS3",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": ctx.service("s3")}},
        },
    ]


class AuditCheckpointBucket(pulumi.ComponentResource):
    bucket: aws.s3.Bucket

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        ctx: AwsContext,
        *,
        audit_key_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("soc2kit:index:AuditCheckpointBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        retention_days = cfg.audit_checkpoint_retention_days
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket_prefix=f"{cfg.prefix}-audit-"[:BUCKET_PREFIX_MAX],
            object_lock_enabled=True,  # only possible when the bucket is created
            force_destroy=False,
            tags={**cfg.tags, "Purpose": "audit-checkpoints"},
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        aws.s3.BucketObjectLockConfiguration(
            f"{name}-object-lock",
            bucket=self.bucket.id,
            object_lock_enabled="Enabled",
            rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                    mode="COMPLIANCE", days=retention_days
                )
            ),
            opts=child,
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=audit_key_arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        # Checkpoints go once their lock has ended (the latest one is always minutes old).
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-after-retention",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=retention_days + 1),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=retention_days + 1
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=1
                    ),
                )
            ],
            opts=child,
        )
        objects = pulumi.Output.concat(self.bucket.arn, "/*")
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "DenyPlainHttp",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [self.bucket.arn, objects],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        },
                        {
                            "Sid": "DenyDeletingCheckpoints",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": [
                                "s3:DeleteObject",
                                "s3:DeleteObjectVersion",
                                "s3:BypassGovernanceRetention",
                            ],
                            "Resource": objects,
                        },
                    ],
                }
            ),
            opts=child,
        )
        self.register_outputs({"bucket_name": self.bucket.bucket})
