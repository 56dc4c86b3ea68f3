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
from components.private_bucket import guard_bucket

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
        objects = pulumi.Output.concat(self.bucket.arn, "/*")
        # Checkpoints go once their lock has ended (the latest one is always minutes old).
        guard_bucket(
            name,
            self.bucket,
            key_arn=audit_key_arn,
            expire_after_days=retention_days + 1,
            lifecycle_rule_id="expire-after-retention",
            policy_name="policy",
            extra_policy_statements=[
                {
                    "Sid": "DenyDeletingCheckpoints",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"],
                    "Resource": objects,
                }
            ],
            opts=child,
        )
        self.register_outputs({"bucket_name": self.bucket.bucket})
