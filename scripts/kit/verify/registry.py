"""The checks of `make verify`, in run order, each mapped to the SOC2 Trust Services Criteria it supports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import app, aws_live, deps, headers, host, suite, tls
from .context import Context
from .result import Attachment, Outcome

LOCAL_ONLY, AWS_ONLY, EVERYWHERE = ("local",), ("aws",), ("local", "aws")


@dataclass(frozen=True)
class Check:
    check_id: str
    title: str
    criteria: tuple[str, ...]
    run: Callable[[Context], tuple[Outcome, list[Attachment]]]
    where: tuple[str, ...] = EVERYWHERE


CHECKS: tuple[Check, ...] = (
    Check(
        "testinfra",
        "testinfra suite (every role's controls)",
        ("CC6.1", "CC6.6", "CC6.7", "CC6.8", "CC7.2"),
        suite.testinfra,
    ),
    Check("sslyze", "TLS: Mozilla intermediate profile (sslyze)", ("CC6.7",), tls.sslyze),
    Check("testssl", "TLS: testssl.sh findings", ("CC6.7", "CC7.1"), tls.testssl),
    Check("certificate", "TLS certificate expiry", ("CC6.7", "CC7.1"), tls.certificate_expiry),
    Check(
        "observatory",
        "HTTP security headers (MDN HTTP Observatory)",
        ("CC6.6", "CC6.7", "CC6.8"),
        headers.observatory,
    ),
    Check(
        "check_deploy",
        "Django `check --deploy` (production settings)",
        ("CC6.1", "CC6.7", "CC8.1"),
        app.check_deploy,
    ),
    Check(
        "systemd", "Service sandboxing (systemd-analyze security)", ("CC6.1", "CC6.8"), host.systemd_security
    ),
    Check("lynis", "Host hardening index (Lynis)", ("CC6.1", "CC6.8", "CC7.1"), host.lynis),
    Check("audit_chain", "Audit trail chain verification", ("CC7.2", "CC8.1"), app.audit_chain),
    Check("data_keys", "Field-encryption data key age", ("C1.1", "CC6.1"), app.key_ages),
    Check(
        "pip_audit",
        "Dependency vulnerabilities (pip-audit, locked requirements)",
        ("CC7.1", "CC6.8", "CC8.1"),
        deps.pip_audit,
    ),
    Check(
        "outdated", "Dependencies with newer releases (periodic review)", ("CC7.1", "CC8.1"), deps.outdated
    ),
    Check(
        "aws_rds",
        "RDS: encrypted with the CMK, rds.force_ssl=1, backups on (live)",
        ("C1.1", "CC6.7", "A1.2"),
        aws_live.rds_settings,
        AWS_ONLY,
    ),
    Check("aws_kms", "KMS key rotation (live)", ("C1.1", "CC6.1"), aws_live.kms_rotation, AWS_ONLY),
    Check(
        "aws_secrets",
        "Secrets encrypted with the secrets CMK (live)",
        ("C1.1", "CC6.1"),
        aws_live.secrets_encryption,
        AWS_ONLY,
    ),
    Check(
        "policy_pack",
        "Pulumi policy pack on the stack",
        ("CC8.1", "CC6.1", "C1.1"),
        aws_live.policy_pack,
        AWS_ONLY,
    ),
)


def checks_for(env: str, only: set[str] | None = None) -> list[Check]:
    kind = "local" if env == "local" else "aws"
    chosen = [check for check in CHECKS if kind in check.where]
    if only:
        unknown = only - {check.check_id for check in CHECKS}
        if unknown:
            from .. import KitError

            raise KitError(
                f"unknown check(s) in CHECKS: {', '.join(sorted(unknown))}",
                f"choose from: {', '.join(check.check_id for check in CHECKS)}",
            )
        chosen = [check for check in chosen if check.check_id in only]
    return chosen
