"""Builds the pack (this starts the policy server and blocks); the rules live in soc2_rules."""

from pulumi_policy import EnforcementLevel, PolicyPack
from soc2_rules import build_policies

PolicyPack(
    name="soc2kit-aws",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=build_policies(),
)
