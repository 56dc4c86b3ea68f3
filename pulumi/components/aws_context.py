"""Facts about the AWS account the stack deploys into, looked up once and handed to every component."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ASSUMED_ROLE = re.compile(r"^arn:([\w-]+):sts::(\d{12}):assumed-role/([^/]+)/.+$")


@dataclass(frozen=True)
class AwsContext:
    account_id: str
    partition: str
    region: str
    availability_zones: tuple[str, ...]
    caller_arn: str

    @property
    def account_root_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:root"

    @property
    def deployer_principal_patterns(self) -> tuple[str, ...]:
        """aws:PrincipalArn patterns of whoever runs `pulumi up`.

        It writes the generated secret values and the provider reads them back (GetSecretValue) on
        every create and refresh, so the secrets' deny-everyone-else policy must let it through.
        An assumed-role session is matched by its role, with or without an IAM path.
        """
        match = _ASSUMED_ROLE.match(self.caller_arn)
        if match is None:
            return (self.caller_arn,)
        partition, account, role = match.groups()
        return (
            f"arn:{partition}:iam::{account}:role/{role}",
            f"arn:{partition}:iam::{account}:role/*/{role}",
        )

    def service(self, name: str) -> str:
        """Regional service endpoint name used in kms:ViaService and VPC endpoint names."""
        return f"{name}.{self.region}.amazonaws.com"

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}"
