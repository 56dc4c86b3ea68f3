"""Facts about the AWS account the stack deploys into, looked up once and handed to every component.

Who runs `pulumi up` is deliberately not here: policies name the configured `deployer_role_arn`
(StackConfig), so every run writes the same policies whoever runs it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AwsContext:
    account_id: str
    partition: str
    region: str
    availability_zones: tuple[str, ...]

    @property
    def account_root_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:root"

    def service(self, name: str) -> str:
        """Regional service endpoint name used in kms:ViaService and VPC endpoint names."""
        return f"{name}.{self.region}.amazonaws.com"

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}"
