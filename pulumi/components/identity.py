"""The app hosts' IAM role and instance profile.

Created before the keys and secrets so that their resource policies can name the role; the
least-privilege permissions themselves are attached by the Hosts component once the exact secret,
key and log group ARNs exist.
"""

from __future__ import annotations

import json

import pulumi_aws as aws
from config import StackConfig

import pulumi
from components.aws_context import AwsContext


class HostIdentity(pulumi.ComponentResource):
    role: aws.iam.Role
    instance_profile: aws.iam.InstanceProfile

    def __init__(
        self, name: str, cfg: StackConfig, ctx: AwsContext, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("soc2kit:index:HostIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            f"{name}-role",
            name=f"{cfg.prefix}-app-host",
            description="App hosts: read this stack's secrets, use its keys, write its logs, SSM",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ec2.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}},
                        }
                    ],
                }
            ),
            tags=cfg.tags,
            opts=child,
        )
        # Session Manager replaces SSH for operators (CC6.1, CC6.6): no inbound port needed.
        aws.iam.RolePolicyAttachment(
            f"{name}-ssm-core",
            role=self.role.name,
            policy_arn=f"arn:{ctx.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore",
            opts=child,
        )
        self.instance_profile = aws.iam.InstanceProfile(
            f"{name}-profile", name=f"{cfg.prefix}-app-host", role=self.role.name, tags=cfg.tags, opts=child
        )
        self.register_outputs(
            {"role_arn": self.role.arn, "instance_profile_name": self.instance_profile.name}
        )
