"""`make ami ENV=...`: the newest official Debian 12 AMI for the stack's region and host architecture.

The Pulumi program never looks an AMI up by itself (a new AMI replaces the hosts): the stack pins
`soc2kit:ami_id`, and this helper finds the id to pin when a user decides to move to a newer image.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

from . import KitError
from .preflight import Context, stack_file_config

# Debian's own AWS account, which publishes the official images (https://wiki.debian.org/Cloud/AmazonEC2Image).
DEBIAN_OWNER_ID = "136693071363"
# EC2 architecture -> the name Debian uses in its image names (debian-12-amd64-20250610-2137).
DEBIAN_ARCH_NAMES = {"x86_64": "amd64", "arm64": "arm64"}
DEFAULT_INSTANCE_TYPES = {"dev": "t3.small", "staging": "t3.small", "prod": "t3.medium"}


def host_architecture(ec2: Any, instance_type: str) -> str:
    """What AWS says the instance type runs (x86_64 or arm64)."""
    types = ec2.describe_instance_types(InstanceTypes=[instance_type]).get("InstanceTypes") or []
    supported = types[0]["ProcessorInfo"]["SupportedArchitectures"] if types else []
    for architecture in DEBIAN_ARCH_NAMES:
        if architecture in supported:
            return architecture
    raise KitError(
        f"instance type {instance_type!r} runs none of {', '.join(DEBIAN_ARCH_NAMES)} "
        f"(AWS says: {', '.join(supported) or 'unknown type'})",
        "set soc2kit:host_instance_type to an x86_64 or arm64 type in the stack file",
    )


def newest_debian_12(ec2: Any, architecture: str) -> dict[str, Any]:
    """The newest available Debian 12 image of that architecture published by Debian (no backports)."""
    images = ec2.describe_images(
        Owners=[DEBIAN_OWNER_ID],
        Filters=[
            {"Name": "name", "Values": [f"debian-12-{DEBIAN_ARCH_NAMES[architecture]}-*"]},
            {"Name": "architecture", "Values": [architecture]},
            {"Name": "state", "Values": ["available"]},
        ],
    ).get("Images", [])
    if not images:
        raise KitError(
            f"Debian (account {DEBIAN_OWNER_ID}) publishes no Debian 12 {architecture} image in this region",
            "check the region (aws:region) and https://wiki.debian.org/Cloud/AmazonEC2Image",
        )
    return dict(max(images, key=lambda image: str(image["CreationDate"])))


def find_ami(
    ctx: Context, *, session_factory: Callable[..., Any] | None = None, out: TextIO | None = None
) -> str:
    """Prints the AMI id to pin for stack ctx.env, and how to record it; returns the id."""
    import boto3

    out = out or sys.stdout
    config = stack_file_config(ctx)
    region = config.get("aws:region")
    if not region:
        raise KitError(
            f"pulumi/Pulumi.{ctx.env}.yaml sets no aws:region",
            f"`pulumi config set --stack {ctx.env} aws:region ...`",
        )
    instance_type = str(config.get("soc2kit:host_instance_type") or DEFAULT_INSTANCE_TYPES[ctx.env])
    factory = session_factory or boto3.session.Session
    session = factory(profile_name=ctx.profile) if ctx.profile else factory()
    ec2 = session.client("ec2", region_name=str(region))
    architecture = host_architecture(ec2, instance_type)
    image = newest_debian_12(ec2, architecture)
    ami_id = str(image["ImageId"])
    pinned = config.get("soc2kit:ami_id")
    print(f"{ami_id}  {image['Name']}  (created {image['CreationDate']}, {region}, {architecture})", file=out)
    if pinned == ami_id:
        print(f"stack {ctx.env} already pins it (soc2kit:ami_id); nothing to do", file=out)
    else:
        now = f"it pins {pinned}" if pinned else "it pins no AMI yet"
        print(
            f"record it as soc2kit:ami_id in pulumi/Pulumi.{ctx.env}.yaml ({now}):\n"
            f"  pulumi config set --stack {ctx.env} soc2kit:ami_id {ami_id}   (in pulumi/)\n"
            f"then `make plan ENV={ctx.env}`: a new AMI replaces the app hosts, so review the preview "
            "and deploy when you mean to",
            file=out,
        )
    return ami_id
