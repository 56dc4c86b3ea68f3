"""Customer-managed KMS keys, one per purpose, each with an explicit least-privilege key policy.

Administrators may manage the keys but not use them; AWS services may use a key only on behalf of
this account and only through that service (kms:ViaService); the app hosts' role may use the
field-encryption key directly, only with the app's encryption context.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi_aws as aws
from config import StackConfig

import pulumi
from components.aws_context import AwsContext

PURPOSES = ("database", "secrets", "logs", "volumes", "field_encryption", "audit", "alerts")
# Only when operators reach the hosts through SSM: encrypts the Ansible file-transfer bucket.
TRANSFER_PURPOSE = "ssm_transfer"
# Fixed, not configurable (config.FIXED_SETTINGS explains why to anyone who tries).
DELETION_WINDOW_DAYS = 30
ROTATION_PERIOD_DAYS = 365
# Signs the SOC2 evidence bundles of `make evidence` (an asymmetric key: KMS cannot rotate those, and a
# bundle must stay verifiable against the same public key for the whole audit period and after).
SIGNING_PURPOSE = "evidence_signing"
SIGNING_KEY_SPEC = "ECC_NIST_P256"

ADMIN_ACTIONS = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
]
SERVICE_USE_ACTIONS = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
]
# The encryption context every field-encryption call must carry (the app passes {"app": app_name}).
FIELD_ENCRYPTION_CONTEXT_KEY = "app"


def _via_service_statements(sid: str, ctx: AwsContext, service: str) -> list[dict[str, Any]]:
    """Let principals of this account use the key, but only through `service` (e.g. rds)."""
    condition = {
        "StringEquals": {"kms:ViaService": ctx.service(service), "kms:CallerAccount": ctx.account_id}
    }
    return [
        {
            "Sid": f"{sid}Use",
            "Effect": "Allow",
            "Principal": {"AWS": ctx.account_root_arn},
            "Action": SERVICE_USE_ACTIONS,
            "Resource": "*",
            "Condition": condition,
        },
        {
            "Sid": f"{sid}Grants",
            "Effect": "Allow",
            "Principal": {"AWS": ctx.account_root_arn},
            "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
            "Resource": "*",
            "Condition": {**condition, "Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
    ]


def _administration(cfg: StackConfig) -> dict[str, Any]:
    """Key administrators manage a key (never use it): every key policy starts with this statement."""
    return {
        "Sid": "KeyAdministration",
        "Effect": "Allow",
        "Principal": {"AWS": list(cfg.key_admin_arns)},
        "Action": ADMIN_ACTIONS,
        "Resource": "*",
    }


def key_policy(
    purpose: str, cfg: StackConfig, ctx: AwsContext, host_role_arn: pulumi.Input[str]
) -> pulumi.Output[str]:
    statements: list[dict[str, Any]] = [_administration(cfg)]
    if purpose == "database":
        statements += _via_service_statements("RdsStorage", ctx, "rds")
    elif purpose == "volumes":
        statements += _via_service_statements("EbsVolumes", ctx, "ec2")
    elif purpose == "secrets":
        statements += _via_service_statements("SecretsManager", ctx, "secretsmanager")
        statements.append(
            {
                "Sid": "AppHostsReadTheirSecrets",
                "Effect": "Allow",
                "Principal": {"AWS": host_role_arn},
                "Action": ["kms:Decrypt", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"kms:ViaService": ctx.service("secretsmanager")},
                    "StringLike": {
                        "kms:EncryptionContext:SecretARN": ctx.arn(
                            "secretsmanager", f"secret:{cfg.secret_name_prefix}/*"
                        )
                    },
                },
            }
        )
    elif purpose == "logs":
        statements.append(
            {
                "Sid": "CloudWatchLogsForThisStacksGroups",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{ctx.region}.amazonaws.com"},
                "Action": [
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": [
                            ctx.arn("logs", f"log-group:{cfg.log_group_prefix}/*"),
                            ctx.arn("logs", f"log-group:/aws/rds/instance/{cfg.db_identifier}/*"),
                        ]
                    }
                },
            }
        )
    elif purpose == "alerts":
        # The security-alerts topic: SNS encrypts with it for the hosts that publish (via SNS, their
        # IAM policy names the key) and for CloudWatch alarms, which publish as the service.
        statements += _via_service_statements("SnsTopic", ctx, "sns")
        statements.append(
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
            }
        )
    elif purpose == TRANSFER_PURPOSE:
        statements += _via_service_statements("S3Transfer", ctx, "s3")
    elif purpose == "audit":  # the audit checkpoint bucket (components/audit_checkpoints.py)
        statements += _via_service_statements("S3AuditCheckpoints", ctx, "s3")
    elif purpose == "field_encryption":
        statements += [
            {
                "Sid": "AppEnvelopeEncryptionWithAppContext",
                "Effect": "Allow",
                "Principal": {"AWS": host_role_arn},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {f"kms:EncryptionContext:{FIELD_ENCRYPTION_CONTEXT_KEY}": cfg.app_name}
                },
            },
            {
                "Sid": "AppDescribesKey",
                "Effect": "Allow",
                "Principal": {"AWS": host_role_arn},
                "Action": "kms:DescribeKey",
                "Resource": "*",
            },
        ]
    else:
        raise ValueError(
            f"unknown key purpose {purpose!r}; expected one of {', '.join(PURPOSES)}, {TRANSFER_PURPOSE}"
        )
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements})


def signing_key_policy(cfg: StackConfig) -> str:
    """Administrators manage it; only the deployer and the named secret readers (the people and CI who
    run `make evidence` and `make evidence-verify`) sign, verify and fetch its public key."""
    signers = sorted({cfg.deployer_role_arn, *cfg.secret_reader_arns})
    statements: list[dict[str, Any]] = [
        _administration(cfg),
        {
            "Sid": "EvidenceSigners",
            "Effect": "Allow",
            "Principal": {"AWS": signers},
            "Action": ["kms:Sign", "kms:Verify", "kms:GetPublicKey", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:SigningAlgorithm": "ECDSA_SHA_256"}},
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


class Keys(pulumi.ComponentResource):
    keys: dict[str, aws.kms.Key]
    aliases: dict[str, aws.kms.Alias]
    signing_key: aws.kms.Key

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        ctx: AwsContext,
        host_role_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("soc2kit:index:Keys", name, None, opts)
        # protect in prod: a destroyed key makes every backup and log encrypted with it unreadable.
        child = pulumi.ResourceOptions(parent=self, protect=cfg.environment == "prod")
        self.keys = {}
        self.aliases = {}
        purposes = (*PURPOSES, TRANSFER_PURPOSE) if cfg.ssm_only else PURPOSES
        for purpose in purposes:
            key = aws.kms.Key(
                f"{name}-{purpose}",
                description=f"{cfg.prefix}: {purpose.replace('_', ' ')} (customer-managed, CC6.1/CC6.7)",
                key_usage="ENCRYPT_DECRYPT",
                customer_master_key_spec="SYMMETRIC_DEFAULT",
                enable_key_rotation=True,
                rotation_period_in_days=ROTATION_PERIOD_DAYS,
                deletion_window_in_days=DELETION_WINDOW_DAYS,
                bypass_policy_lockout_safety_check=False,
                policy=key_policy(purpose, cfg, ctx, host_role_arn),
                tags={**cfg.tags, "Purpose": purpose},
                opts=child,
            )
            self.keys[purpose] = key
            self.aliases[purpose] = aws.kms.Alias(
                f"{name}-{purpose}-alias",
                name=f"alias/{cfg.prefix}-{purpose.replace('_', '-')}",
                target_key_id=key.key_id,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.signing_key = aws.kms.Key(
            f"{name}-{SIGNING_PURPOSE}",
            description=f"{cfg.prefix}: evidence bundle signing (asymmetric, CC4.1)",
            key_usage="SIGN_VERIFY",
            customer_master_key_spec=SIGNING_KEY_SPEC,
            deletion_window_in_days=DELETION_WINDOW_DAYS,
            bypass_policy_lockout_safety_check=False,
            policy=signing_key_policy(cfg),
            tags={**cfg.tags, "Purpose": SIGNING_PURPOSE},
            opts=child,
        )
        self.register_outputs(
            {
                "signing_key_arn": self.signing_key.arn,
                "key_arns": {purpose: key.arn for purpose, key in self.keys.items()},
                "alias_names": {purpose: alias.name for purpose, alias in self.aliases.items()},
            }
        )
