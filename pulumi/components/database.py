"""RDS PostgreSQL: encrypted with the database key, private, TLS-only, backed up, logged, monitored."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi_aws as aws
import pulumi_random as random
from config import StackConfig

import pulumi
from components.aws_context import AwsContext
from components.logs import RDS_LOG_EXPORTS

# Parameters the auditor looks for (CC6.7 encryption in transit, CC7.2 logging).
DB_PARAMETERS = {
    "rds.force_ssl": "1",
    "ssl_min_protocol_version": "TLSv1.2",
    "password_encryption": "scram-sha-256",
    "log_connections": "1",
    "log_disconnections": "1",
    # DDL only: logging every statement would copy field values (personal data) into the logs.
    "log_statement": "ddl",
    "log_min_duration_statement": "1000",
}
CA_CERT_IDENTIFIER = "rds-ca-rsa2048-g1"


class Database(pulumi.ComponentResource):
    instance: aws.rds.Instance
    parameter_group: aws.rds.ParameterGroup
    master_secret_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        ctx: AwsContext,
        *,
        subnet_ids: Sequence[pulumi.Input[str]],
        security_group_id: pulumi.Input[str],
        database_key_arn: pulumi.Input[str],
        secrets_key_arn: pulumi.Input[str],
        log_groups: Sequence[aws.cloudwatch.LogGroup],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("soc2kit:index:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        subnet_group = aws.rds.SubnetGroup(
            f"{name}-subnets",
            name=cfg.db_subnet_group_name,
            description="Private subnets only, no internet route",
            subnet_ids=list(subnet_ids),
            tags=cfg.tags,
            opts=child,
        )
        self.parameter_group = aws.rds.ParameterGroup(
            f"{name}-params",
            name=cfg.db_parameter_group_name,
            family=cfg.db_parameter_group_family,
            description="TLS required, connection and DDL logging",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name=key, value=value, apply_method="pending-reboot")
                for key, value in DB_PARAMETERS.items()
            ],
            tags=cfg.tags,
            opts=child,
        )
        monitoring_role = aws.iam.Role(
            f"{name}-monitoring-role",
            name=cfg.iam_role_name("rds-monitoring"),
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "monitoring.rds.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}},
                        }
                    ],
                }
            ),
            tags=cfg.tags,
            opts=child,
        )
        monitoring_policy = aws.iam.RolePolicyAttachment(
            f"{name}-monitoring-policy",
            role=monitoring_role.name,
            policy_arn=f"arn:{ctx.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
            opts=child,
        )
        # A fixed final-snapshot name would make the second destroy fail ("snapshot already exists").
        # Generated once and kept in state: no diff on later runs, a new one after destroy-then-deploy.
        snapshot_suffix = random.RandomId(
            f"{name}-final-snapshot-suffix",
            byte_length=4,
            keepers={"identifier": cfg.db_identifier},
            opts=child,
        )
        self.instance = aws.rds.Instance(
            f"{name}-postgres",
            identifier=cfg.db_identifier,
            engine="postgres",
            engine_version=cfg.db_engine_version,
            instance_class=cfg.db_instance_class,
            allocated_storage=cfg.db_allocated_storage_gb,
            max_allocated_storage=cfg.db_max_allocated_storage_gb,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=database_key_arn,
            db_name=cfg.db_name,
            port=cfg.db_port,
            username=cfg.db_admin_username,
            # RDS generates, stores and rotates the admin password; it never enters Pulumi state.
            manage_master_user_password=True,
            master_user_secret_kms_key_id=secrets_key_arn,
            iam_database_authentication_enabled=True,
            db_subnet_group_name=subnet_group.name,
            vpc_security_group_ids=[security_group_id],
            publicly_accessible=False,
            parameter_group_name=self.parameter_group.name,
            ca_cert_identifier=CA_CERT_IDENTIFIER,
            multi_az=cfg.db_multi_az,
            backup_retention_period=cfg.db_backup_retention_days,
            backup_window="02:00-03:00",
            maintenance_window="sun:03:30-sun:04:30",
            delete_automated_backups=False,
            copy_tags_to_snapshot=True,
            skip_final_snapshot=False,
            final_snapshot_identifier=pulumi.Output.concat(cfg.db_identifier, "-final-", snapshot_suffix.hex),
            deletion_protection=cfg.db_deletion_protection,
            enabled_cloudwatch_logs_exports=list(RDS_LOG_EXPORTS),
            performance_insights_enabled=True,
            performance_insights_kms_key_id=database_key_arn,
            performance_insights_retention_period=cfg.db_performance_insights_retention_days,
            monitoring_interval=cfg.db_monitoring_interval,
            monitoring_role_arn=monitoring_role.arn,
            auto_minor_version_upgrade=True,
            allow_major_version_upgrade=False,
            apply_immediately=False,
            tags=cfg.tags,
            # The log groups must exist first, or RDS creates them unencrypted with no retention.
            # protect in prod: `pulumi destroy` or a replacing change stops before touching it.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*log_groups, monitoring_policy], protect=cfg.environment == "prod"
            ),
        )
        self.master_secret_arn = self.instance.master_user_secrets.apply(
            lambda secrets: secrets[0].secret_arn if secrets and secrets[0].secret_arn else ""
        )
        self.register_outputs(
            {
                "endpoint": self.instance.address,
                "port": self.instance.port,
                "db_name": self.instance.db_name,
                "master_secret_arn": self.master_secret_arn,
            }
        )
