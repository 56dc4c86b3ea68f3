"""Runs the real Pulumi program (`__main__.py`) against mocks and records what it declares.

No Pulumi CLI, no AWS: `pulumi.runtime.set_mocks` answers every resource registration and invoke.
The recorded inputs use the engine's property names (camelCase), the same shape the policy pack
sees, so the policy tests reuse these records.
"""

from __future__ import annotations

import base64
import hashlib
import json
import runpy
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import yaml
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

import pulumi

PROGRAM_DIR = Path(__file__).resolve().parent.parent
ACCOUNT_ID = "123456789012"
REGION = "eu-west-1"
ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
# The stack files' deployer_role_arn, and who runs `pulumi up` in the mocks: a CI session of it.
DEPLOYER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/soc2kit-deployer"
DEPLOYER_SESSION_ARN = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/soc2kit-deployer/ci-session"
# Pulumi.prod.yaml ships a placeholder zone id that config refuses; the tests deploy with this one.
PROD_ZONE_ID = "Z0123456789ABCDEFGHIJ"


def kms_key_id(resource_name: str) -> str:
    """Mocked KMS key ids are UUIDs, like real ones (the Ansible inventory checks the shape)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, resource_name))


def key_arn(purpose: str) -> str:
    """The mocked ARN of the stack's key for `purpose` (database, secrets, logs, ...)."""
    return f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{kms_key_id('keys-' + purpose)}"


def generated(resource_name: str, length: int) -> bytes:
    """A mocked random value of the requested length, like the provider's; starts with b"generated-"
    (base64 "Z2VuZXJhdGVk") so the tests can tell it never reaches an output."""
    filler = hashlib.sha256(resource_name.encode()).hexdigest() * (length // 64 + 1)
    return ("generated-" + filler).encode()[:length]


def generated_hex(resource_name: str, byte_length: int) -> str:
    """The mocked RandomId of `resource_name`, hex-encoded."""
    return hashlib.sha256(resource_name.encode()).hexdigest()[: 2 * byte_length]


def instance_id(resource_name: str) -> str:
    return "i-0" + hashlib.sha256(resource_name.encode()).hexdigest()[:16]


@dataclass
class Recorded:
    type: str
    name: str
    inputs: dict[str, Any]
    id: str


@dataclass
class StackRun:
    resources: list[Recorded] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)
    # Resource name -> the `protect` resource option it was declared with.
    protected: dict[str, bool] = field(default_factory=dict)

    def of_type(self, resource_type: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == resource_type]

    def one(self, resource_type: str, name: str) -> Recorded:
        matches = [r for r in self.resources if r.type == resource_type and r.name == name]
        assert len(matches) == 1, f"expected one {resource_type} named {name}, found {len(matches)}"
        return matches[0]

    def by_id(self, resource_id: str) -> Recorded:
        return next(r for r in self.resources if r.id == resource_id)

    def policy(self, resource_type: str, name: str, prop: str = "policy") -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.one(resource_type, name).inputs[prop])
        return document

    def __iter__(self) -> Iterator[Recorded]:
        return iter(self.resources)


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, run: StackRun, caller_arn: str) -> None:
        self.run = run
        self.caller_arn = caller_arn

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        typ, inputs = args.typ, args.inputs
        resource_id = instance_id(args.name) if typ == "aws:ec2/instance:Instance" else f"{args.name}-id"
        self.run.resources.append(Recorded(typ, args.name, dict(inputs), resource_id))
        outputs: dict[str, Any] = dict(inputs)
        service = typ.split(":")[1].split("/")[0]
        physical = inputs.get("name", args.name)
        outputs["arn"] = f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{args.name}"
        if typ == "aws:iam/role:Role":
            outputs["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:role/{physical}"
        elif typ == "aws:kms/key:Key":
            outputs["keyId"] = kms_key_id(args.name)
            outputs["arn"] = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{kms_key_id(args.name)}"
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            outputs["arn"] = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{physical}"
        elif typ == "aws:secretsmanager/secret:Secret":
            outputs["arn"] = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{physical}-AbCdEf"
        elif typ == "aws:rds/instance:Instance":
            outputs["address"] = f"{physical}.abc123.{REGION}.rds.amazonaws.com"
            outputs["masterUserSecrets"] = [
                {
                    "secretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:rds!db-1234-XyZ",
                    "secretStatus": "active",
                }
            ]
        elif typ == "aws:ec2/instance:Instance":
            outputs["privateIp"] = f"10.40.0.{10 + int(args.name.rsplit('-', 1)[1])}"
        elif typ == "aws:ec2/eip:Eip" and args.name.startswith("hosts-app-"):
            outputs["publicIp"] = f"198.51.100.{10 + int(args.name.split('-')[-2])}"
        elif typ == "aws:s3/bucket:Bucket":
            # A bucket_prefix gets AWS's unique suffix (26 characters) appended.
            outputs["bucket"] = inputs.get("bucket") or inputs["bucketPrefix"] + "20261203000000000000000001"
            outputs["arn"] = f"arn:aws:s3:::{outputs['bucket']}"
        elif typ == "aws:lb/loadBalancer:LoadBalancer":
            outputs["dnsName"] = f"{physical}-0123.elb.{REGION}.amazonaws.com"
        elif typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = generated(args.name, int(inputs["length"])).decode()
        elif typ == "random:index/randomId:RandomId":
            outputs["hex"] = generated_hex(args.name, int(inputs["byteLength"]))
        elif typ == "random:index/randomBytes:RandomBytes":
            raw = generated(args.name, int(inputs["length"]))
            outputs["base64"] = base64.b64encode(raw).decode()
            outputs["hex"] = raw.hex()
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": self.caller_arn,
                "userId": "AIDA",
                "id": ACCOUNT_ID,
            }, []
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": ZONES, "zoneIds": ["euw1-az1", "euw1-az2", "euw1-az3"], "id": REGION}, []
        raise AssertionError(f"the program made an invoke the mocks do not know: {token}")


def stack_file(stack: str) -> dict[str, str]:
    """The `config:` block of pulumi/Pulumi.<stack>.yaml exactly as shipped."""
    document = yaml.safe_load((PROGRAM_DIR / f"Pulumi.{stack}.yaml").read_text())
    return {key: str(value) for key, value in document["config"].items()}


def stack_config(stack: str) -> dict[str, str]:
    """The shipped stack file as a user deploys it: the prod placeholder zone id replaced."""
    config = stack_file(stack)
    if "soc2kit:acme_route53_zone_id" in config:
        config["soc2kit:acme_route53_zone_id"] = PROD_ZONE_ID
    return config


def run_program(
    config: dict[str, str],
    stack: str = "test",
    run: StackRun | None = None,
    caller_arn: str = DEPLOYER_SESSION_ARN,
) -> StackRun:
    """Execute __main__.py under mocks with `config` and return every declared resource and export.

    `caller_arn` is who runs it (getCallerIdentity). Pass `run` to keep what was recorded even when
    the program raises.
    """
    run = run if run is not None else StackRun()
    pulumi.runtime.set_all_config(config)
    pulumi.runtime.set_mocks(RecordingMocks(run, caller_arn), project="soc2kit", stack=stack, preview=False)
    exported: dict[str, Any] = {}
    custom_init = pulumi.CustomResource.__init__

    def recording_init(resource: pulumi.CustomResource, t: str, name: str, *args: Any, **kwargs: Any) -> None:
        opts = kwargs.get("opts") if "opts" in kwargs else (args[1] if len(args) > 1 else None)
        run.protected[name] = bool(opts is not None and opts.protect)
        custom_init(resource, t, name, *args, **kwargs)

    def program() -> None:
        with (
            mock.patch.object(pulumi, "export", side_effect=exported.__setitem__),
            mock.patch.object(pulumi.CustomResource, "__init__", recording_init),
        ):
            runpy.run_path(str(PROGRAM_DIR / "__main__.py"), run_name="__main__")

    _sync_await(run_pulumi_func(program))

    async def resolve() -> Any:
        return await pulumi.Output.from_input(exported).future()

    resolved = _sync_await(resolve())
    run.exports.update(resolved)
    return run
