"""The app hosts' IAM role and instance profile.

Created before the keys and secrets so that their resource policies can name the role; the
least-privilege permissions themselves are attached by the Hosts component once the exact secret,
key and log group ARNs exist.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi_aws as aws
from config import StackConfig

import pulumi
from components.aws_context import AwsContext


def ssm_agent_policy(ctx: AwsContext) -> str:
    """What the SSM agent needs for Session Manager (operators and Ansible's aws_ssm connection).

    Replaces AmazonSSMManagedInstanceCore, which also lets a host read every SSM parameter of the
    account (ssm:GetParameter* on *) and fetch any document. ssmmessages and ec2messages have no
    resource-level permissions, so those two statements name "*" (see tests/test_hosts.py's table).
    """
    statements: list[dict[str, Any]] = [
        {
            "Sid": "SsmAgentRegistersThisInstance",
            "Effect": "Allow",
            "Action": ["ssm:UpdateInstanceInformation", "ssm:ListInstanceAssociations"],
            "Resource": f"arn:{ctx.partition}:ec2:{ctx.region}:{ctx.account_id}:instance/*",
        },
        {
            "Sid": "SessionManagerChannels",
            "Effect": "Allow",
            "Action": [
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel",
            ],
            "Resource": "*",
        },
        {
            "Sid": "SsmAgentMessages",
            "Effect": "Allow",
            "Action": [
                "ec2messages:AcknowledgeMessage",
                "ec2messages:DeleteMessage",
                "ec2messages:FailMessage",
                "ec2messages:GetEndpoint",
                "ec2messages:GetMessages",
                "ec2messages:SendReply",
            ],
            "Resource": "*",
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


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
            name=cfg.iam_role_name("app-host"),
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
        aws.iam.RolePolicy(f"{name}-ssm-agent", role=self.role.id, policy=ssm_agent_policy(ctx), opts=child)
        self.instance_profile = aws.iam.InstanceProfile(
            f"{name}-profile",
            name=cfg.iam_role_name("app-host"),
            role=self.role.name,
            tags=cfg.tags,
            opts=child,
        )
        self.register_outputs(
            {"role_arn": self.role.arn, "instance_profile_name": self.instance_profile.name}
        )
