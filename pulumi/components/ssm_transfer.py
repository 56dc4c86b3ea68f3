"""The S3 bucket Ansible's SSM connection copies files through (only when SSH is not opened).

Files Ansible ships can include rendered secrets, so the bucket is private, KMS-encrypted with
its own key, TLS-only, and empties itself within a day.
"""

from __future__ import annotations

import pulumi_aws as aws
from config import StackConfig

import pulumi
from components.aws_context import AwsContext
from components.private_bucket import guard_bucket

OBJECT_LIFETIME_DAYS = 1


class SsmTransferBucket(pulumi.ComponentResource):
    bucket: aws.s3.Bucket

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        ctx: AwsContext,
        *,
        transfer_key_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("soc2kit:index:SsmTransferBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=cfg.ssm_bucket_name(ctx.account_id),
            force_destroy=True,  # transient copies only
            tags={**cfg.tags, "Purpose": "ansible-ssm-transfer"},
            opts=child,
        )
        guard_bucket(
            name,
            self.bucket,
            key_arn=transfer_key_arn,
            expire_after_days=OBJECT_LIFETIME_DAYS,
            lifecycle_rule_id="expire-transfers",
            policy_name="tls-only",
            opts=child,
        )
        self.register_outputs({"bucket_name": self.bucket.bucket})
