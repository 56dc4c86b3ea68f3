"""Every CloudWatch log group of the stack, encrypted with the logs key and retained >= 365 days.

In prod the groups are protected: they hold the audit trail, and `pulumi destroy` would delete them
with the stack (pulumi/README.md, "Teardown", says how to keep or export them first).
"""

from __future__ import annotations

import pulumi_aws as aws
from config import StackConfig

import pulumi

# What the hosts ship (Ansible configures the agent to these names).
HOST_LOG_GROUPS = ("app", "web", "audit", "system")
# RDS writes its exports to fixed names; pre-creating them is how they get our key and retention.
RDS_LOG_EXPORTS = ("postgresql", "upgrade")


class Logs(pulumi.ComponentResource):
    host_groups: dict[str, aws.cloudwatch.LogGroup]
    rds_groups: dict[str, aws.cloudwatch.LogGroup]
    flow_logs_group: aws.cloudwatch.LogGroup

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        logs_key_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("soc2kit:index:Logs", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, protect=cfg.environment == "prod")

        def group(suffix: str, log_group_name: str) -> aws.cloudwatch.LogGroup:
            return aws.cloudwatch.LogGroup(
                f"{name}-{suffix}",
                name=log_group_name,
                kms_key_id=logs_key_arn,
                retention_in_days=cfg.log_retention_days,
                tags={**cfg.tags, "LogKind": suffix},
                opts=child,
            )

        self.host_groups = {kind: group(kind, f"{cfg.log_group_prefix}/{kind}") for kind in HOST_LOG_GROUPS}
        self.rds_groups = {
            export: group(f"rds-{export}", f"/aws/rds/instance/{cfg.db_identifier}/{export}")
            for export in RDS_LOG_EXPORTS
        }
        self.flow_logs_group = group("vpc-flow-logs", f"{cfg.log_group_prefix}/vpc-flow-logs")
        self.register_outputs(
            {
                "host_group_names": {kind: g.name for kind, g in self.host_groups.items()},
                "flow_logs_group_name": self.flow_logs_group.name,
            }
        )
