"""The app hosts Ansible configures, and exactly the permissions their role needs.

The AMI is pinned per stack (`ami_id`): a new Debian release never replaces hosts on a routine
deploy; changing the id is the explicit, previewed way to. IMDSv2 only, root volume encrypted with
the volumes key, detailed monitoring, the SSM agent installed at first boot (components/ssm_agent.py).
A single host gets an Elastic IP (it is the web endpoint); hosts behind the load balancer get no
public IP at all (FSBP EC2.9). The inline role policy names every secret, key and log group by ARN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi_aws as aws
from config import StackConfig

import pulumi
from components.audit_checkpoints import audit_checkpoint_statements
from components.aws_context import AwsContext
from components.keys import FIELD_ENCRYPTION_CONTEXT_KEY
from components.ssm_agent import render_user_data


def host_role_policy(
    cfg: StackConfig,
    ctx: AwsContext,
    *,
    secret_arns: Sequence[pulumi.Input[str]],
    secrets_key_arn: pulumi.Input[str],
    field_encryption_key_arn: pulumi.Input[str],
    log_group_arns: Sequence[pulumi.Input[str]],
    alerts_topic_arn: pulumi.Input[str],
    alerts_key_arn: pulumi.Input[str],
    transfer_bucket_arn: pulumi.Input[str] | None = None,
    transfer_key_arn: pulumi.Input[str] | None = None,
    audit_checkpoint_bucket_arn: pulumi.Input[str] | None = None,
    audit_key_arn: pulumi.Input[str] | None = None,
) -> pulumi.Output[str]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadThisStacksSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Resource": list(secret_arns),
        },
        {
            "Sid": "DecryptSecretsViaSecretsManager",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": secrets_key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": ctx.service("secretsmanager")}},
        },
        {
            "Sid": "FieldEncryptionWithAppContext",
            "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": field_encryption_key_arn,
            "Condition": {
                "StringEquals": {f"kms:EncryptionContext:{FIELD_ENCRYPTION_CONTEXT_KEY}": cfg.app_name}
            },
        },
        {
            "Sid": "DescribeFieldEncryptionKey",
            "Effect": "Allow",
            "Action": "kms:DescribeKey",
            "Resource": field_encryption_key_arn,
        },
        {
            "Sid": "WriteThisStacksLogGroups",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": [
                *log_group_arns,
                *(pulumi.Output.concat(arn, ":log-stream:*") for arn in log_group_arns),
            ],
        },
        {
            "Sid": "PublishSecurityAlerts",
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": alerts_topic_arn,
        },
        {
            "Sid": "EncryptAlertsViaSns",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
            "Resource": alerts_key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": ctx.service("sns")}},
        },
        {
            "Sid": "AgentMetricsOnly",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": "CWAgent"}},
        },
    ]
    if transfer_bucket_arn is not None and transfer_key_arn is not None:
        # Ansible over SSM: the host fetches and removes the files the controller uploads.
        statements += [
            {
                "Sid": "AnsibleSsmTransferObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": pulumi.Output.concat(transfer_bucket_arn, "/*"),
            },
            {
                "Sid": "AnsibleSsmTransferKeyViaS3",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": transfer_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": ctx.service("s3")}},
            },
        ]
    if audit_checkpoint_bucket_arn is not None and audit_key_arn is not None:
        statements += audit_checkpoint_statements(ctx, audit_checkpoint_bucket_arn, audit_key_arn)
    if cfg.acme_route53_zone_id is not None:
        # DNS-01 behind the load balancer: TXT records under _acme-challenge in one zone, nothing else.
        statements += [
            {
                "Sid": "AcmeChallengeRecordsOnly",
                "Effect": "Allow",
                "Action": "route53:ChangeResourceRecordSets",
                "Resource": f"arn:{ctx.partition}:route53:::hostedzone/{cfg.acme_route53_zone_id}",
                "Condition": {
                    "ForAllValues:StringLike": {
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["_acme-challenge.*"]
                    },
                    "ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]},
                },
            },
            {
                "Sid": "AcmeFindZoneAndWait",
                "Effect": "Allow",
                "Action": ["route53:ListHostedZones", "route53:GetChange"],
                "Resource": "*",
            },
        ]
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements})


class Hosts(pulumi.ComponentResource):
    instances: list[aws.ec2.Instance]
    elastic_ips: list[aws.ec2.Eip]
    user_data: str

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        ctx: AwsContext,
        *,
        role: aws.iam.Role,
        instance_profile: aws.iam.InstanceProfile,
        subnet_ids: Sequence[pulumi.Input[str]],
        security_group_id: pulumi.Input[str],
        volumes_key_arn: pulumi.Input[str],
        secrets_key_arn: pulumi.Input[str],
        field_encryption_key_arn: pulumi.Input[str],
        secret_arns: Mapping[str, pulumi.Input[str]],
        log_group_arns: Sequence[pulumi.Input[str]],
        alerts_topic_arn: pulumi.Input[str],
        alerts_key_arn: pulumi.Input[str],
        transfer_bucket_arn: pulumi.Input[str] | None = None,
        transfer_key_arn: pulumi.Input[str] | None = None,
        audit_checkpoint_bucket_arn: pulumi.Input[str] | None = None,
        audit_key_arn: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("soc2kit:index:Hosts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        policy = aws.iam.RolePolicy(
            f"{name}-least-privilege",
            role=role.id,
            policy=host_role_policy(
                cfg,
                ctx,
                secret_arns=list(secret_arns.values()),
                secrets_key_arn=secrets_key_arn,
                field_encryption_key_arn=field_encryption_key_arn,
                log_group_arns=log_group_arns,
                alerts_topic_arn=alerts_topic_arn,
                alerts_key_arn=alerts_key_arn,
                transfer_bucket_arn=transfer_bucket_arn,
                transfer_key_arn=transfer_key_arn,
                audit_checkpoint_bucket_arn=audit_checkpoint_bucket_arn,
                audit_key_arn=audit_key_arn,
            ),
            opts=child,
        )
        # The AMI's architecture is the instance type's (Graviton types need arm64), so is the agent's.
        self.user_data = render_user_data(cfg.region, cfg.host_architecture)
        self.instances = []
        self.elastic_ips = []
        for index in range(cfg.host_count):
            host_name = f"{cfg.prefix}-app-{index + 1}"
            instance = aws.ec2.Instance(
                f"{name}-app-{index + 1}",
                ami=cfg.ami_id,
                user_data=self.user_data,
                instance_type=cfg.host_instance_type,
                subnet_id=subnet_ids[index % len(subnet_ids)],
                vpc_security_group_ids=[security_group_id],
                iam_instance_profile=instance_profile.name,
                key_name=cfg.ssh_key_name,
                associate_public_ip_address=False,
                metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                    http_endpoint="enabled",
                    http_tokens="required",  # IMDSv2 only (EC2.8)
                    http_put_response_hop_limit=1,
                    instance_metadata_tags="disabled",
                ),
                root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                    encrypted=True,
                    kms_key_id=volumes_key_arn,
                    volume_type="gp3",
                    volume_size=cfg.host_root_volume_gb,
                    delete_on_termination=True,
                    tags={**cfg.tags, "Name": f"{host_name}-root"},
                ),
                monitoring=True,
                ebs_optimized=True,
                disable_api_termination=cfg.environment == "prod",
                tags={**cfg.tags, "Name": host_name, "Role": "app"},
                # The instance must not start before its permissions exist (the app reads secrets at boot).
                opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
            )
            self.instances.append(instance)
            if cfg.multi_host:
                continue  # behind the load balancer: no public address at all
            self.elastic_ips.append(
                aws.ec2.Eip(
                    f"{name}-app-{index + 1}-eip",
                    domain="vpc",
                    instance=instance.id,
                    tags={**cfg.tags, "Name": host_name},
                    opts=child,
                )
            )
        self.register_outputs(
            {
                "host_ids": [i.id for i in self.instances],
                "private_ips": [i.private_ip for i in self.instances],
                "public_ips": [e.public_ip for e in self.elastic_ips],
            }
        )
