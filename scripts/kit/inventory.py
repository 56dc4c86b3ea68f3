"""Ansible dynamic inventory built from the Pulumi stack's outputs (`make deploy ENV=dev|staging|prod`).

Ansible runs this script with `--list` (or `--host NAME`). It reads
`pulumi stack output --json --show-secrets=false --stack <ENV>` in pulumi/, or, when
KIT_PULUMI_OUTPUTS_FILE is set, a JSON file holding those outputs (what `make deploy` records once
per run, and what the tests use). The stack is KIT_PULUMI_STACK, which ansible/inventories/pulumi_inventory
(the `soc2kit-inventory` command Ansible runs, linked into each inventories/<ENV>/) sets from its folder.

Only known outputs are read, each checked against the shape it must have (instance ids, IP
addresses, ARNs, log group names), so nothing else reaches Ansible, and a secret value that ended up
in an output cannot pass as an ARN or a name. Error messages name the output key and what it must
look like, never the value. The naming rules are the stack config's own (kit/stack_rules.py), so an
output that pulumi/config.py would have refused is refused here too.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from .stack_rules import APP_NAME_ALLOWED, APP_NAME_RE, PG_IDENT_RE, REGION_RE, ZONE_ID_RE

# rehearsal: the AWS flow on local containers (scripts/kit/rehearsal.py), outputs of the program under mocks.
STACKS = ("dev", "staging", "prod", "rehearsal")
# How Ansible reaches the hosts. podman is the rehearsal's only connection difference: the ENV's group_vars
# name each host's container, and this script sets no connection variable then.
CONNECTIONS = ("ssh", "ssm", "podman")
GROUP = "app_hosts"
REQUIRED_SECRETS = (
    "django_secret_key",
    "field_encryption_blind_index_key",
    "db_app_credentials",
    "db_owner_credentials",
)
REQUIRED_LOG_GROUPS = ("app", "web", "audit", "system")
# The Debian cloud images' login user (SSH mode); SSM sessions run as ssm-user and need none.
SSH_USER = "admin"
PULUMI_DIR = Path(__file__).resolve().parent.parent.parent / "pulumi"
# What `pulumi stack output --show-secrets=false` prints in place of a secret output.
SECRET_PLACEHOLDER = "[secret]"  # noqa: S105 (a marker, not a password)

_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
_HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_DNS_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]{1,512}$"
)
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f-]{36})$")
_SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
_KMS_ALIAS = re.compile(r"^alias/[A-Za-z0-9/_-]{1,250}$")
_LOG_GROUP = re.compile(r"^[A-Za-z0-9._/#-]{1,512}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class InventoryError(Exception):
    """The stack outputs cannot be turned into an inventory; the message says which key and why."""


class _Checker:
    """Collects every problem with the outputs, so one run shows all of them."""

    def __init__(self, outputs: dict[str, Any]) -> None:
        self.outputs = outputs
        self.errors: list[str] = []

    def fail(self, key: str, expected: str) -> None:
        self.errors.append(f"stack output '{key}': {expected}")

    def _get(self, key: str, required: bool) -> Any:
        if key not in self.outputs or self.outputs[key] is None:
            if required:
                self.fail(key, "missing (required)")
            return None
        value = self.outputs[key]
        if _is_secret_placeholder(value):
            self.fail(
                key,
                "is a secret output; export it as a plain value (ARNs, names and addresses are not secret)",
            )
            return None
        return value

    def text(
        self, key: str, pattern: re.Pattern[str], expected: str, required: bool = True, value: Any = None
    ) -> str | None:
        value = self._get(key, required) if value is None else value
        if value is None:
            return None
        if not isinstance(value, str) or not pattern.match(value):
            self.fail(key, f"must be {expected} (got {_describe(value)})")
            return None
        return value

    def port(self, key: str) -> int | None:
        value = self._get(key, True)
        if value is None:
            return None
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
        if isinstance(value, str) and value.isdigit():
            number = int(value)
        if number is None or not 1 <= number <= 65535:
            self.fail(key, f"must be a TCP port from 1 to 65535 (got {_describe(value)})")
            return None
        return number

    def ip_list(self, key: str, length: int, required: bool, private: bool) -> list[str | None]:
        value = self._get(key, required)
        if value is None:
            return [None] * length
        if not isinstance(value, list) or len(value) != length:
            self.fail(
                key, f"must be a list of {length} IPv4 addresses, one per app host (got {_describe(value)})"
            )
            return [None] * length
        addresses: list[str | None] = []
        for index, item in enumerate(value):
            try:
                address = ipaddress.IPv4Address(item) if isinstance(item, str) else None
            except ValueError:
                address = None
            if address is None or (private and not address.is_private):
                kind = "a private IPv4 address" if private else "an IPv4 address"
                self.fail(f"{key}[{index}]", f"must be {kind} (got {_describe(item)})")
                addresses.append(None)
            else:
                addresses.append(str(address))
        return addresses

    def mapping(
        self,
        key: str,
        pattern: re.Pattern[str],
        expected: str,
        required_keys: tuple[str, ...],
        required: bool = True,
    ) -> dict[str, str]:
        value = self._get(key, required)
        if value is None:
            return {}
        if not isinstance(value, dict) or not value:
            self.fail(key, f"must be a non-empty map of name -> {expected} (got {_describe(value)})")
            return {}
        result: dict[str, str] = {}
        for name in required_keys:
            if name not in value:
                self.fail(f"{key}.{name}", "missing (required)")
        for name, item in sorted(value.items()):
            if not _PURPOSE.match(str(name)):
                self.fail(f"{key}", f"has a key that is not a lower-case name (got {_describe(name)})")
                continue
            checked = self.text(f"{key}.{name}", pattern, expected, value=item if item is not None else "")
            if checked is not None:
                result[name] = checked
        return result


def _is_secret_placeholder(value: Any) -> bool:
    if value == SECRET_PLACEHOLDER:
        return True
    if isinstance(value, dict):
        return any(_is_secret_placeholder(v) for v in value.values())
    if isinstance(value, list):
        return any(_is_secret_placeholder(v) for v in value)
    return False


def _describe(value: Any) -> str:
    """Says what kind of value it was without showing it: outputs must never leak into logs."""
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return f"a map of {len(value)} keys"
    return type(value).__name__


def build_inventory(outputs: Any, stack: str, connection: str | None = None) -> dict[str, Any]:
    """Turns the stack outputs into Ansible's --list JSON, or raises InventoryError naming every bad key."""
    if not isinstance(outputs, dict):
        raise InventoryError(
            f"stack outputs must be a JSON object of output name -> value (got {_describe(outputs)})"
        )
    if not outputs:
        raise InventoryError(
            f"stack '{stack}' has no outputs: it was never deployed or its last update failed; "
            f"run `pulumi up --stack {stack}` in pulumi/ (or `make deploy ENV={stack}`)"
        )
    check = _Checker(outputs)
    region = check.text("region", REGION_RE, "an AWS region such as eu-west-1")
    # The field-encryption key's policy requires kms:EncryptionContext:app == app_name.
    app_name = check.text("app_name", APP_NAME_RE, f"the stack's app_name ({APP_NAME_ALLOWED})")

    ids = check._get("app_host_ids", True)
    if ids is not None and (not isinstance(ids, list) or not ids):
        check.fail("app_host_ids", f"must be a non-empty list of EC2 instance ids (got {_describe(ids)})")
        ids = None
    instance_ids: list[str | None] = []
    for index, item in enumerate(ids or []):
        instance_ids.append(
            check.text(
                f"app_host_ids[{index}]",
                _INSTANCE_ID,
                "an EC2 instance id such as i-0123456789abcdef0",
                value=item,
            )
        )
    count = len(instance_ids)

    names: list[str | None] = list(instance_ids)
    raw_names = check._get("app_host_names", False)
    if raw_names is not None:
        if not isinstance(raw_names, list) or len(raw_names) != count:
            check.fail(
                "app_host_names",
                f"must be a list of {count} host names, one per app host (got {_describe(raw_names)})",
            )
        else:
            names = [
                check.text(f"app_host_names[{i}]", _HOST_NAME, "a lower-case host name", value=n)
                for i, n in enumerate(raw_names)
            ]
    private_ips = check.ip_list("app_host_private_ips", count, required=True, private=True)
    public_ips = check.ip_list("app_host_public_ips", count, required=False, private=False)

    db_endpoint = check.text(
        "db_endpoint", _DNS_NAME, "the database host name (RDS address, without the port)"
    )
    db_port = check.port("db_port")
    db_name = check.text("db_name", PG_IDENT_RE, "a PostgreSQL database name")
    db_app_username = check.text("db_app_username", PG_IDENT_RE, "a PostgreSQL role name", required=False)
    db_owner_username = check.text("db_owner_username", PG_IDENT_RE, "a PostgreSQL role name", required=False)
    db_admin_secret_arn = check.text(
        "db_admin_secret_arn", _SECRET_ARN, "a Secrets Manager secret ARN", required=False
    )
    secret_arns = check.mapping("secret_arns", _SECRET_ARN, "a Secrets Manager secret ARN", REQUIRED_SECRETS)
    kms_key_arns = check.mapping("kms_key_arns", _KMS_KEY_ARN, "a KMS key ARN", ())
    kms_key_aliases = check.mapping(
        "kms_key_aliases", _KMS_ALIAS, "a KMS alias name (alias/...)", (), required=False
    )
    log_groups = check.mapping(
        "log_group_names", _LOG_GROUP, "a CloudWatch Logs group name", REQUIRED_LOG_GROUPS
    )
    # Signed audit-trail checkpoints (Object Lock); the app host's django_app role writes them there.
    audit_checkpoint_bucket = check.text(
        "audit_checkpoint_bucket", _BUCKET, "the S3 bucket of the audit checkpoints", required=False
    )
    # Where the app publishes security alerts (django_app_alert_sns_topic_arn).
    # Optional here so older stacks still list; ansible/inventories/aws_shared requires it for the app.
    alerts_topic_arn = check.text("alerts_topic_arn", _SNS_TOPIC_ARN, "an SNS topic ARN", required=False)
    nlb_dns_name = check.text("nlb_dns_name", _DNS_NAME, "the load balancer's DNS name", required=False)
    zone_id = check.text(
        "acme_route53_zone_id", ZONE_ID_RE, "a Route53 hosted zone id such as Z0123456789ABC", required=False
    )
    if count > 1 and check.outputs.get("acme_route53_zone_id") is None:
        check.fail(
            "acme_route53_zone_id", "missing (required with more than one app host: certbot uses DNS-01)"
        )

    mode = connection or _connection_mode(check)
    bucket = None
    if mode == "ssm":
        bucket = check.text(
            "ssm_bucket_name", _BUCKET, "the S3 bucket the SSM connection transfers files through"
        )

    if check.errors:
        raise InventoryError(
            f"cannot build the inventory from the outputs of stack '{stack}':\n  - "
            + "\n  - ".join(check.errors)
            + "\nFix the outputs in pulumi/__main__.py (or the stack) and run `pulumi up` again."
        )

    hostvars: dict[str, dict[str, Any]] = {}
    for index, (name, instance_id) in enumerate(zip(names, instance_ids, strict=True)):
        host: dict[str, Any] = {
            "soc2kit_instance_id": instance_id,
            "soc2kit_private_ip": private_ips[index],
            "soc2kit_public_ip": public_ips[index],
            "soc2kit_host_index": index,
        }
        if mode == "ssm":
            host.update(
                {
                    "ansible_connection": "amazon.aws.aws_ssm",
                    "ansible_aws_ssm_instance_id": instance_id,
                    "ansible_aws_ssm_region": region,
                    "ansible_aws_ssm_bucket_name": bucket,
                }
            )
        elif mode == "ssh":
            host.update(
                {
                    "ansible_connection": "ssh",
                    # No public address: SSH to the private one (from a VPN or bastion inside the admin CIDR).
                    "ansible_host": public_ips[index] or private_ips[index],
                    "ansible_user": SSH_USER,
                }
            )
        hostvars[str(name)] = host

    group_vars: dict[str, Any] = {
        "soc2kit_stack": stack,
        "soc2kit_connection": mode,
        "soc2kit_aws_region": region,
        "soc2kit_app_name": app_name,
        "soc2kit_db_endpoint": db_endpoint,
        "soc2kit_db_port": db_port,
        "soc2kit_db_name": db_name,
        "soc2kit_db_app_username": db_app_username,
        "soc2kit_db_owner_username": db_owner_username,
        "soc2kit_db_admin_secret_arn": db_admin_secret_arn,
        "soc2kit_secret_arns": secret_arns,
        "soc2kit_kms_key_arns": kms_key_arns,
        "soc2kit_kms_key_aliases": kms_key_aliases,
        "soc2kit_log_group_names": log_groups,
        "soc2kit_audit_checkpoint_bucket": audit_checkpoint_bucket,
        "soc2kit_alerts_topic_arn": alerts_topic_arn,
        "soc2kit_nlb_dns_name": nlb_dns_name,
        "soc2kit_acme_route53_zone_id": zone_id,
        "soc2kit_host_count": count,
    }
    return {
        "_meta": {"hostvars": hostvars},
        "all": {"children": ["ungrouped", GROUP, "acme_servers"]},
        GROUP: {"hosts": list(hostvars), "vars": group_vars},
        # site.yml also names the local ACME server's group; on AWS it is empty (Let's Encrypt instead).
        "acme_servers": {"hosts": []},
    }


def _connection_mode(check: _Checker) -> str:
    """SSH when the stack opens SSH to an admin CIDR, else AWS SSM (the stack has no SSH port open)."""
    if "ssh_admin_cidr" not in check.outputs:
        check.fail(
            "ssh_admin_cidr",
            "missing: the stack must say how hosts are reached (the admin CIDR, or null for SSM only); "
            "or set KIT_CONNECTION=ssh|ssm",
        )
        return "ssh"
    value = check.outputs["ssh_admin_cidr"]
    if value in (None, ""):
        return "ssm"
    try:
        network = ipaddress.IPv4Network(value, strict=True) if isinstance(value, str) else None
    except ValueError:
        network = None
    if network is None:
        check.fail("ssh_admin_cidr", f"must be an IPv4 CIDR or null (got {_describe(value)})")
    return "ssh"


def read_outputs(stack: str, environ: dict[str, str]) -> Any:
    """The stack outputs as parsed JSON: from KIT_PULUMI_OUTPUTS_FILE, else from the Pulumi CLI."""
    path = environ.get("KIT_PULUMI_OUTPUTS_FILE")
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise InventoryError(
                f"KIT_PULUMI_OUTPUTS_FILE={path}: cannot read it ({error.strerror})"
            ) from error
        source = path
    else:
        pulumi = shutil.which("pulumi", path=environ.get("PATH"))
        if pulumi is None:
            raise InventoryError(
                "the pulumi CLI is not on PATH; install it (https://www.pulumi.com/docs/install/) "
                "or set KIT_PULUMI_OUTPUTS_FILE to a file of recorded stack outputs"
            )
        command = [pulumi, "stack", "output", "--json", "--show-secrets=false", "--stack", stack]
        run = subprocess.run
        result = run(command, cwd=PULUMI_DIR, capture_output=True, text=True, check=False, env=environ)
        if result.returncode != 0:
            raise InventoryError(
                f"`pulumi stack output --stack {stack}` failed (exit {result.returncode}): "
                + result.stderr.strip()
            )
        text, source = result.stdout, f"pulumi stack output --stack {stack}"
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InventoryError(
            f"{source}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from error


def stack_name(environ: dict[str, str]) -> str:
    """KIT_PULUMI_STACK: the ENV of the inventories/<ENV>/ Ansible ran (the wrapper there sets it)."""
    stack = environ.get("KIT_PULUMI_STACK", "")
    if stack not in STACKS:
        raise InventoryError(
            f"unknown stack {stack!r}: set KIT_PULUMI_STACK to one of {', '.join(STACKS)}, "
            "or use the inventory at ansible/inventories/<ENV>/"
        )
    return stack


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--list", action="store_true", help="print the whole inventory (what Ansible asks for)"
    )
    parser.add_argument("--host", help="print one host's variables")
    args = parser.parse_args(argv)
    environ = dict(os.environ) if environ is None else environ
    try:
        connection = environ.get("KIT_CONNECTION") or None
        if connection not in (None, *CONNECTIONS):
            raise InventoryError(
                f"KIT_CONNECTION={connection!r} is not allowed; "
                f"use one of {', '.join(CONNECTIONS)} (or unset it)"
            )
        stack = stack_name(environ)
        inventory = build_inventory(read_outputs(stack, environ), stack, connection)
    except InventoryError as error:
        print(f"pulumi_inventory: ERROR: {error}", file=sys.stderr)
        return 1
    if args.host:
        print(json.dumps(inventory["_meta"]["hostvars"].get(args.host, {}), indent=2, sort_keys=True))
    else:
        print(json.dumps(inventory, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
