"""The checks of `make verify`, in run order, each mapped to the SOC2 Trust Services Criteria it supports."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from . import app, aws_live, deps, headers, host, suite, tls
from .context import Context
from .controls import SUITE_MAPPING
from .result import Attachment, Outcome

LOCAL_ONLY, AWS_ONLY, EVERYWHERE = ("local",), ("aws",), ("local", "aws")


@dataclass(frozen=True)
class Check:
    check_id: str
    title: str
    # criterion -> why this check is evidence for it (an auditor reads the reason next to the mapping).
    mapping: Mapping[str, str]
    run: Callable[[Context], tuple[Outcome, list[Attachment]]]
    where: tuple[str, ...] = EVERYWHERE
    # Why the check does not apply where it does not run (shown as a "not applicable" row).
    not_applicable: str = ""
    # Where the control it evidences is put in place (for CONTROLS.md).
    implemented_in: str = ""
    # Why it cannot run in the rehearsal (no outside network, no AWS API for it): reported as "could not
    # run" there, never as passed or failed.
    not_in_rehearsal: str = ""

    @property
    def criteria(self) -> tuple[str, ...]:
        return tuple(self.mapping)


OFFLINE = "it needs the package index and the vulnerability database: the rehearsal reaches no outside host"
NO_AWS_HERE = "ENV=local has no AWS account: the stack's AWS services are checked on dev, staging and prod"

CHECKS: tuple[Check, ...] = (
    Check(
        "testinfra",
        "testinfra suite (every role's controls), one row per test module",
        SUITE_MAPPING,
        suite.testinfra,
        implemented_in="the roles (one row per test module below)",
    ),
    Check(
        "sslyze",
        "TLS: Mozilla intermediate profile (sslyze)",
        {"CC6.7": "only TLS 1.2/1.3 with the profile's suites protects data in transit to users"},
        tls.sslyze,
        implemented_in="templates/nginx, templates/apache (Mozilla intermediate TLS)",
    ),
    Check(
        "testssl",
        "TLS: testssl.sh findings",
        {
            "CC6.7": "the served TLS configuration has no weak protocol, suite or certificate finding",
            "CC7.1": "known TLS vulnerabilities (Heartbleed, ROBOT, ...) are looked for on the live endpoint",
        },
        tls.testssl,
        implemented_in="templates/nginx, templates/apache",
    ),
    Check(
        "certificate",
        "TLS certificate expiry",
        {"CC6.7": "an expired certificate breaks (or invites users to bypass) encryption in transit"},
        tls.certificate_expiry,
        implemented_in="roles/certbot",
    ),
    Check(
        "observatory",
        "HTTP security headers (MDN HTTP Observatory)",
        {
            "CC6.7": "HSTS and secure cookies keep browsers on HTTPS "
            "(not mapped to CC6.8: response headers are no control over software on our systems)"
        },
        headers.observatory,
        implemented_in="templates/nginx/snippets, templates/apache, app/config/settings/production.py",
    ),
    Check(
        "check_deploy",
        "Django `check --deploy` (production settings)",
        {
            "CC6.1": "debug off, secure and HTTP-only session/CSRF cookies, a strong SECRET_KEY",
            "CC6.7": "SSL redirect and HSTS set in the app's production settings",
        },
        app.check_deploy,
        implemented_in="app/config/settings/production.py",
    ),
    Check(
        "systemd",
        "Service sandboxing (systemd-analyze security)",
        {
            "CC6.1": "each service runs with least privilege (own user, capabilities dropped, private paths)",
            "CC6.8": "a read-only system, NoNewPrivileges and a syscall filter stop a compromised service "
            "from installing or starting other software",
        },
        host.systemd_security,
        implemented_in="roles/django_app, roles/nginx, roles/apache, roles/log_shipping (unit sandboxes)",
    ),
    Check(
        "lynis",
        "Host hardening index (Lynis)",
        {"CC7.1": "an independent configuration scan of each host finds hardening weaknesses"},
        host.lynis,
        implemented_in="roles/hardening",
    ),
    Check(
        "audit_chain",
        "Audit trail chain verification",
        {"CC7.2": "a changed, removed or inserted audit entry breaks the hash chain and is detected"},
        app.audit_chain,
        implemented_in="packages/soc2kit/src/soc2kit/audit",
    ),
    Check(
        "data_keys",
        "Field-encryption data key age",
        {"CC6.1": "encryption keys protecting confidential fields at rest are rotated within policy"},
        app.key_ages,
        implemented_in="packages/soc2kit/src/soc2kit/encryption",
    ),
    Check(
        "pip_audit",
        "Dependency vulnerabilities (pip-audit, locked requirements)",
        {"CC7.1": "the app's locked dependencies are checked against known vulnerabilities"},
        deps.pip_audit,
        implemented_in="app/requirements/base.txt (hash-pinned lock)",
        not_in_rehearsal=OFFLINE,
    ),
    Check(
        "outdated",
        "Dependencies with newer releases (periodic review)",
        {"CC7.1": "input to the periodic patch review (informational: neither pass nor fail)"},
        deps.outdated,
        implemented_in="app/requirements/base.txt",
        not_in_rehearsal=OFFLINE,
    ),
    Check(
        "aws_rds",
        "RDS: encrypted with the CMK, rds.force_ssl=1, backups on (live)",
        {
            "CC6.1": "the database is encrypted at rest with the stack's customer-managed key",
            "CC6.7": "rds.force_ssl=1 refuses unencrypted connections",
            "A1.2": "automated backups are on (recovery infrastructure)",
        },
        aws_live.rds_settings,
        AWS_ONLY,
        NO_AWS_HERE + " (the local PostgreSQL's TLS and roles are tested by testinfra's postgresql row)",
        implemented_in="pulumi/components/database.py",
        not_in_rehearsal="no RDS API here: the database is a PostgreSQL container (its TLS and roles are "
        "checked by testinfra's postgresql row)",
    ),
    Check(
        "aws_kms",
        "KMS key rotation (live)",
        {"CC6.1": "customer-managed keys rotate within the policy's age"},
        aws_live.kms_rotation,
        AWS_ONLY,
        NO_AWS_HERE + " (local keys: see data_keys)",
        implemented_in="pulumi/components/keys.py",
    ),
    Check(
        "aws_secrets",
        "Secrets encrypted with the secrets CMK (live)",
        {"CC6.1": "every secret of the stack is encrypted with the stack's own key"},
        aws_live.secrets_encryption,
        AWS_ONLY,
        NO_AWS_HERE + " (local secrets: a 0600 file, tested by testinfra's django_app row)",
        implemented_in="pulumi/components/app_secrets.py",
    ),
    Check(
        "policy_pack",
        "Pulumi policy pack on the stack",
        {
            "CC7.1": "the deployed stack's configuration is compared with the policy rules "
            "(encryption, exposure)"
        },
        aws_live.policy_pack,
        AWS_ONLY,
        "ENV=local has no Pulumi stack",
        implemented_in="pulumi/policy/soc2_rules.py",
        not_in_rehearsal="the rehearsal's stack exists only under Pulumi's mocks, with no CLI or state to "
        "preview (pulumi/tests run the pack's rules)",
    ),
)


def kind_of(env: str) -> str:
    """local for ENV=local; aws for every other ENV (rehearsal included: the AWS code path)."""
    return "local" if env == "local" else "aws"


def checks_for(env: str, only: set[str] | None = None) -> list[Check]:
    kind = kind_of(env)
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


def not_applicable(env: str, only: set[str] | None = None) -> list[tuple[Check, str]]:
    """The checks that do not run in this ENV (or were not selected), each with the reason."""
    kind, skipped = kind_of(env), []
    for check in CHECKS:
        if kind not in check.where:
            skipped.append((check, check.not_applicable or f"runs on {', '.join(check.where)} only"))
        elif only and check.check_id not in only:
            skipped.append((check, "not selected in this run (CHECKS=...)"))
    return skipped
