"""`make ami ENV=...`: the newest official Debian 12 AMI for the stack's region and architecture, from
EC2 DescribeImages (moto, with a recorded-style set of images: Debian's, backports, Debian 11, and a
look-alike from another account)."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from kit import KitError
from kit.ami import DEBIAN_OWNER_ID, find_ami
from kit.preflight import Context
from moto import mock_aws

OTHER_ACCOUNT = "999988887777"


def image(
    ami_id: str, name: str, architecture: str, created: str, owner: str = DEBIAN_OWNER_ID
) -> dict[str, Any]:
    return {
        "ami_id": ami_id,
        "name": name,
        "description": name,
        "owner_id": owner,
        "public": True,
        "virtualization_type": "hvm",
        "architecture": architecture,
        "state": "available",
        "platform": None,
        "image_type": "machine",
        "hypervisor": "xen",
        "root_device_name": "/dev/xvda",
        "root_device_type": "ebs",
        "sriov": "simple",
        "creation_date": created,
    }


IMAGES = [
    image("ami-0a0000000000000a1", "debian-12-amd64-20250415-2084", "x86_64", "2025-04-15T10:00:00.000Z"),
    image("ami-0a0000000000000a2", "debian-12-amd64-20250610-2137", "x86_64", "2025-06-10T10:00:00.000Z"),
    image("ami-0b0000000000000b1", "debian-12-arm64-20250610-2137", "arm64", "2025-06-10T10:00:00.000Z"),
    image("ami-0b0000000000000b0", "debian-12-arm64-20250415-2084", "arm64", "2025-04-15T10:00:00.000Z"),
    # Newer, but not what we want: backports kernel, Debian 11, and someone else's look-alike.
    image(
        "ami-0c0000000000000c1",
        "debian-12-backports-amd64-20250701-2150",
        "x86_64",
        "2025-07-01T10:00:00.000Z",
    ),
    image("ami-0c0000000000000c2", "debian-11-amd64-20250701-2150", "x86_64", "2025-07-01T10:00:00.000Z"),
    image(
        "ami-0d0000000000000d1",
        "debian-12-amd64-20250801-9999",
        "x86_64",
        "2025-08-01T10:00:00.000Z",
        owner=OTHER_ACCOUNT,
    ),
]


@pytest.fixture
def debian_images(fake_aws_credentials: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """moto's EC2 with only these images (its documented MOTO_AMIS_PATH file; moto read it at import)."""
    amis = tmp_path / "amis.json"
    amis.write_text(json.dumps(IMAGES))
    monkeypatch.setenv("MOTO_AMIS_PATH", str(amis))
    monkeypatch.setattr("moto.ec2.models.amis.AMIS", copy.deepcopy(IMAGES))  # moto edits them


def stack(tmp_path: Path, env: str, body: str) -> Context:
    pulumi_dir = tmp_path / "pulumi"
    pulumi_dir.mkdir(exist_ok=True)
    (pulumi_dir / f"Pulumi.{env}.yaml").write_text(body)
    return Context(env=env, environ={}, pulumi_dir=pulumi_dir)


def test_newest_debian_12_for_an_x86_64_stack_and_how_to_pin_it(debian_images: None, tmp_path: Path) -> None:
    out = io.StringIO()
    context = stack(
        tmp_path, "prod", "config:\n  aws:region: eu-west-1\n  soc2kit:host_instance_type: t3.medium\n"
    )
    with mock_aws():
        assert find_ami(context, out=out) == "ami-0a0000000000000a2"
    said = out.getvalue()
    assert said.startswith("ami-0a0000000000000a2  debian-12-amd64-20250610-2137")
    assert "eu-west-1, x86_64" in said
    assert "record it as soc2kit:ami_id in pulumi/Pulumi.prod.yaml (it pins no AMI yet)" in said
    assert "pulumi config set --stack prod soc2kit:ami_id ami-0a0000000000000a2" in said
    assert "a new AMI replaces the app hosts" in said


def test_graviton_instance_type_gets_the_arm64_image(debian_images: None, tmp_path: Path) -> None:
    context = stack(
        tmp_path,
        "dev",
        "config:\n  aws:region: eu-west-1\n  soc2kit:host_instance_type: t4g.small\n"
        "  soc2kit:ami_id: ami-0b0000000000000b0\n",
    )
    out = io.StringIO()
    with mock_aws():
        assert find_ami(context, out=out) == "ami-0b0000000000000b1"
    assert "(it pins ami-0b0000000000000b0)" in out.getvalue()


def test_already_pinned_says_nothing_to_do(debian_images: None, tmp_path: Path) -> None:
    context = stack(
        tmp_path, "dev", "config:\n  aws:region: eu-west-1\n  soc2kit:ami_id: ami-0a0000000000000a2\n"
    )
    out = io.StringIO()
    with mock_aws():
        find_ami(context, out=out)  # dev's default instance type, t3.small: x86_64
    assert "already pins it" in out.getvalue()


def test_no_region_is_named(tmp_path: Path) -> None:
    with pytest.raises(KitError, match="sets no aws:region"):
        find_ami(stack(tmp_path, "dev", "config: {}\n"))
