"""`pulumi up` of the rehearsal: the real Pulumi program for a `rehearsal` stack, run under Pulumi's mocks.

The program runs as for prod (pulumi/Pulumi.prod.yaml's config: several hosts, the NLB, prod's minimums),
with the mocks of the program's own tests (pulumi/tests/harness.py) changed in three places only:
  - the instances' private addresses, the database's address and the balancer's DNS name are those of
    the local containers standing in for them;
  - the random values (passwords, keys) are really random, as the provider's are;
  - what the program writes into Secrets Manager is kept, so the local stand-in is seeded with exactly
    those values, in the formats the program writes.
Run in a subprocess (`python -m kit.rehearsal_stack ADDRESSES_JSON`, stdout = JSON), so Pulumi's global
runtime state never reaches the kit's own process. Its stdout holds secret values: never print it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import string
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import PULUMI_DIR, KitError

STACK = "rehearsal"
SCRIPTS_DIR = Path(__file__).resolve().parent.parent
# The stack file whose config the rehearsal deploys: prod's (several hosts behind the balancer).
CONFIG_STACK = "prod"


@dataclass(frozen=True)
class Addresses:
    """Where the rehearsal's stand-ins are on the containers' network."""

    app_hosts: list[str]
    database: str
    balancer: str


@dataclass(frozen=True)
class MockedStack:
    outputs: dict[str, Any]
    # Secret name (as the program names it in Secrets Manager) -> the SecretString the program writes.
    secret_values: dict[str, str]
    # The RDS master user's name (RDS keeps its password in a secret of its own: the rehearsal makes one).
    master_username: str
    # The audit checkpoint bucket's default Object Lock retention, as the program sets it.
    checkpoint_lock: dict[str, Any]


def run(addresses: Addresses) -> MockedStack:
    """The program's outputs and secret values for the rehearsal stack (a subprocess, about 5 s)."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "kit.rehearsal_stack", json.dumps(addresses.__dict__)],
        capture_output=True,
        text=True,
        check=False,
        cwd=PULUMI_DIR,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(SCRIPTS_DIR), str(PULUMI_DIR)]),
        },
        timeout=300,
    )
    if result.returncode != 0:
        raise KitError(
            f"the Pulumi program failed under mocks for stack {STACK}: {result.stderr.strip()[-1500:]}",
            "run `make test-pulumi`: the program's own tests show the same failure",
        )
    data = json.loads(result.stdout)
    return MockedStack(
        data["outputs"], data["secret_values"], data["master_username"], data["checkpoint_lock"]
    )


def _random_password(length: int, inputs: dict[str, Any]) -> str:
    alphabet = string.ascii_letters + string.digits
    if inputs.get("special", True):
        alphabet += inputs.get("overrideSpecial") or "!@#$%&*()-_=+[]{}<>:?"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _unwrap_secret(value: Any) -> str:
    """The mocks see a pulumi.Output.secret(...) value in Pulumi's wire form of a secret."""
    from pulumi.runtime import rpc

    if isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig:
        value = value["value"]
    if not isinstance(value, str):
        raise TypeError(f"a SecretString of the program is a {type(value).__name__}, not a string")
    return value


def _mocked_run(addresses: Addresses) -> MockedStack:
    # Imported here: only the subprocess loads Pulumi and the program's test harness.
    from tests import harness  # type: ignore[attr-defined]  # pulumi/tests, on the subprocess's path only

    class RehearsalMocks(harness.RecordingMocks):
        def new_resource(self, args: Any) -> tuple[str | None, dict[str, Any]]:
            resource_id, outputs = super().new_resource(args)
            typ, inputs = args.typ, args.inputs
            if typ == "aws:ec2/instance:Instance":
                index = int(args.name.rsplit("-", 1)[1]) - 1
                outputs["privateIp"] = addresses.app_hosts[index]
            elif typ == "aws:rds/instance:Instance":
                outputs["address"] = addresses.database
            elif typ == "aws:lb/loadBalancer:LoadBalancer":
                outputs["dnsName"] = addresses.balancer
            elif typ == "random:index/randomPassword:RandomPassword":
                outputs["result"] = _random_password(int(inputs["length"]), inputs)
            elif typ == "random:index/randomBytes:RandomBytes":
                raw = secrets.token_bytes(int(inputs["length"]))
                outputs["base64"] = base64.b64encode(raw).decode()
                outputs["hex"] = raw.hex()
            return resource_id, outputs

    from unittest import mock

    # The harness's own run_program, with the mocks above in place of its RecordingMocks.
    with mock.patch.object(harness, "RecordingMocks", RehearsalMocks):
        run = harness.run_program(harness.stack_config(CONFIG_STACK), stack=STACK)
    outputs = json.loads(json.dumps(run.exports))
    names = {r.id: r.inputs["name"] for r in run.of_type("aws:secretsmanager/secret:Secret")}
    secret_values = {
        names[r.inputs["secretId"]]: _unwrap_secret(r.inputs["secretString"])
        for r in run.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    }
    [database] = run.of_type("aws:rds/instance:Instance")
    [lock] = run.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    retention = lock.inputs["rule"]["defaultRetention"]
    checkpoint_lock = {"mode": str(retention["mode"]), "days": int(retention["days"])}
    return MockedStack(outputs, secret_values, str(database.inputs["username"]), checkpoint_lock)


def main(argv: list[str]) -> int:
    addresses = Addresses(**json.loads(argv[0]))
    stack = _mocked_run(addresses)
    json.dump(stack.__dict__, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
