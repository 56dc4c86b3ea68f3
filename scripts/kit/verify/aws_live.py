"""AWS environments: the live settings read back with boto3 (not what the code says, what AWS says), and
the Pulumi policy pack's verdict on the stack.

- RDS: storage encrypted with the stack's database CMK; its parameter group sets rds.force_ssl=1;
  automated backups on.
- KMS: automatic rotation on for every key of the stack; days since the key's last rotation (or creation).
- Secrets Manager: every secret of the stack encrypted with the stack's secrets CMK.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from typing import Any

from .. import PULUMI_DIR
from .context import Context
from .hosts import run_local
from .result import ERROR, FAIL, PASS, Attachment, CheckError, Outcome


def _client(ctx: Context, service: str, session: Any = None) -> Any:
    import boto3

    region = str(ctx.stack_outputs.get("region") or "")
    if not region:
        raise CheckError("the stack outputs have no region; run `make deploy` for this ENV first")
    client: Any = (session or boto3.session.Session()).client
    return client(service, region_name=region)


def _key_arn(kms: Any, key: str) -> str:
    return str(kms.describe_key(KeyId=key)["KeyMetadata"]["Arn"])


def rds_settings(ctx: Context, session: Any = None) -> tuple[Outcome, list[Attachment]]:
    outputs = ctx.stack_outputs
    endpoint = outputs.get("db_endpoint")
    key_arns = outputs.get("kms_key_arns")
    wanted_key = key_arns.get("database") if isinstance(key_arns, dict) else None
    if not endpoint or not wanted_key:
        raise CheckError("the stack outputs lack db_endpoint or kms_key_arns.database")
    rds, kms = _client(ctx, "rds", session), _client(ctx, "kms", session)
    instances = [
        db
        for page in rds.get_paginator("describe_db_instances").paginate()
        for db in page["DBInstances"]
        if (db.get("Endpoint") or {}).get("Address") == endpoint
    ]
    if not instances:
        return Outcome(FAIL, f"no RDS instance answers at {endpoint}"), []
    db = instances[0]
    problems = []
    key = db.get("KmsKeyId")
    encrypted_with = _key_arn(kms, key) if key else None
    if not db.get("StorageEncrypted"):
        problems.append("storage is not encrypted")
    elif encrypted_with != _key_arn(kms, wanted_key):
        problems.append(
            f"storage is encrypted with {encrypted_with}, not the stack's database CMK {wanted_key}"
        )
    force_ssl = None
    for group in db.get("DBParameterGroups", []):
        pages = rds.get_paginator("describe_db_parameters").paginate(
            DBParameterGroupName=group["DBParameterGroupName"]
        )
        for page in pages:
            for parameter in page["Parameters"]:
                if parameter["ParameterName"] == "rds.force_ssl":
                    force_ssl = parameter.get("ParameterValue")
    if not db.get("BackupRetentionPeriod"):
        problems.append("automated backups are off (BackupRetentionPeriod 0)")
    if force_ssl != "1":
        problems.append(f"rds.force_ssl is {force_ssl!r}, not '1' (clients could connect without TLS)")
    figures = {
        "db_instance": db["DBInstanceIdentifier"],
        "storage_encrypted": bool(db.get("StorageEncrypted")),
        "kms_key": encrypted_with,
        "rds.force_ssl": force_ssl,
        "backup_retention_days": db.get("BackupRetentionPeriod"),
        "parameter_groups": [g["DBParameterGroupName"] for g in db.get("DBParameterGroups", [])],
    }
    record = [Attachment("rds.json", json.dumps(figures, indent=2, default=str))]
    if problems:
        return Outcome(FAIL, "; ".join(problems), figures), record
    return Outcome(
        PASS,
        f"{db['DBInstanceIdentifier']}: encrypted with the database CMK, rds.force_ssl=1, "
        f"backups kept {db.get('BackupRetentionPeriod')} days",
        figures,
    ), record


def kms_rotation(
    ctx: Context, session: Any = None, now: datetime | None = None
) -> tuple[Outcome, list[Attachment]]:
    keys: dict[str, str] = dict(ctx.stack_outputs.get("kms_key_arns") or {})  # type: ignore[call-overload]
    if not keys:
        raise CheckError("the stack outputs have no kms_key_arns")
    kms = _client(ctx, "kms", session)
    now = now or datetime.now(UTC)
    max_days = ctx.thresholds.key_max_age_days
    figures: dict[str, Any] = {}
    problems = []
    for purpose, arn in sorted(keys.items()):
        rotation = kms.get_key_rotation_status(KeyId=arn)
        created = kms.describe_key(KeyId=arn)["KeyMetadata"]["CreationDate"]
        rotations = kms.list_key_rotations(KeyId=arn).get("Rotations", [])
        last = max([r["RotationDate"] for r in rotations], default=created)
        age = round((now - last).total_seconds() / 86400, 1)
        figures[purpose] = {
            "rotation_enabled": rotation["KeyRotationEnabled"],
            "days_since_rotation": age,
            "rotation_period_days": rotation.get("RotationPeriodInDays"),
        }
        if not rotation["KeyRotationEnabled"]:
            problems.append(f"{purpose} key: automatic rotation is off")
        elif age > max_days:
            problems.append(f"{purpose} key: last rotated {age} days ago (> {max_days})")
    record = [Attachment("kms.json", json.dumps(figures, indent=2, default=str))]
    if problems:
        return Outcome(FAIL, "; ".join(problems), figures), record
    return Outcome(
        PASS,
        f"rotation on for all {len(keys)} keys (oldest key material "
        f"{max(f['days_since_rotation'] for f in figures.values())} days old)",
        figures,
    ), record


def secrets_encryption(ctx: Context, session: Any = None) -> tuple[Outcome, list[Attachment]]:
    outputs = ctx.stack_outputs
    arns: dict[str, str] = dict(outputs.get("secret_arns") or {})  # type: ignore[call-overload]
    if outputs.get("db_admin_secret_arn"):
        arns["db_admin"] = str(outputs["db_admin_secret_arn"])
    key_arns = outputs.get("kms_key_arns")
    wanted = key_arns.get("secrets") if isinstance(key_arns, dict) else None
    if not arns or not wanted:
        raise CheckError("the stack outputs lack secret_arns or kms_key_arns.secrets")
    sm, kms = _client(ctx, "secretsmanager", session), _client(ctx, "kms", session)
    wanted_arn = _key_arn(kms, wanted)
    figures: dict[str, Any] = {}
    problems = []
    for name, arn in sorted(arns.items()):
        key = sm.describe_secret(SecretId=arn).get("KmsKeyId")
        actual = _key_arn(kms, key) if key else "aws/secretsmanager (AWS-managed key)"
        figures[name] = actual
        if actual != wanted_arn:
            problems.append(f"{name} is encrypted with {actual}, not the secrets CMK")
    record = [Attachment("secrets.json", json.dumps(figures, indent=2))]
    if problems:
        return Outcome(FAIL, "; ".join(problems), figures), record
    return Outcome(PASS, f"all {len(arns)} secrets encrypted with the stack's secrets CMK", figures), record


def policy_pack(ctx: Context) -> tuple[Outcome, list[Attachment]]:
    if shutil.which("pulumi") is None:
        raise CheckError(
            "the pulumi CLI is not on PATH, so the policy pack cannot run against the stack "
            "(install it: https://www.pulumi.com/docs/install/)"
        )
    done = run_local(
        [
            "pulumi",
            "preview",
            "--stack",
            ctx.env,
            "--policy-pack",
            str(PULUMI_DIR / "policy"),
            "--non-interactive",
        ],
        cwd=PULUMI_DIR,
        timeout=900,
    )
    attachments = [Attachment("pulumi-preview-policy.txt", done.output)]
    return evaluate_policy_preview(done.output, done.returncode), attachments


def evaluate_policy_preview(output: str, returncode: int) -> Outcome:
    violations = [
        line.strip() for line in output.splitlines() if "[mandatory]" in line or "[advisory]" in line
    ]
    if returncode == 0 and not violations:
        return Outcome(PASS, "pulumi preview with the soc2kit policy pack: no violation")
    if violations:
        return Outcome(
            FAIL,
            f"{len(violations)} policy violation(s): " + "; ".join(violations[:3]),
            {"violations": violations},
        )
    return Outcome(ERROR, f"pulumi preview failed (exit {returncode}): {output.strip()[-300:]}")
