"""The controls the testinfra suite proves: one per module of molecule/tests, each mapped to the SOC2
criteria it supports with the reason (the report shows one row per module, not one per test)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .. import MOLECULE_DIR


@dataclass(frozen=True)
class SuiteControl:
    """A testinfra module of molecule/tests: one control row in the report, mapped like a check."""

    module: str
    title: str
    mapping: Mapping[str, str]
    implemented_in: str

    @property
    def criteria(self) -> tuple[str, ...]:
        return tuple(self.mapping)


# The testinfra modules (molecule/tests/test_<module>.py): what each proves, and for which criterion.
SUITE_CONTROLS: tuple[SuiteControl, ...] = (
    SuiteControl(
        "hardening",
        "Host hardening: SSH, PAM, accounts, sysctl, firewall, auditd, AIDE",
        {
            "CC6.1": "SSH keys only and no root login, password quality, lockout after failed logins",
            "CC6.6": "nftables drops by default and admits SSH only from the allowed networks",
            "CC6.8": "compilers root-only, needless SUID bits removed, unused kernel modules blocked",
            "CC7.2": "auditd rules and a daily AIDE check detect changes to the system",
        },
        "roles/hardening",
    ),
    SuiteControl(
        "web_tls",
        "HTTPS front seen from outside (both web servers)",
        {"CC6.7": "TLS 1.0/1.1 refused, the profile's suites only, HTTP redirected to HTTPS"},
        "roles/nginx, roles/apache, templates/",
    ),
    SuiteControl(
        "nginx",
        "nginx: TLS settings, root-owned configuration, private logs, sandboxed unit",
        {
            "CC6.7": "the effective TLS settings override Debian's",
            "CC6.1": "configuration and logs protected",
        },
        "roles/nginx",
    ),
    SuiteControl(
        "apache",
        "Apache: TLS settings, root-owned configuration, private logs, sandboxed unit",
        {
            "CC6.7": "the effective TLS settings override Debian's",
            "CC6.1": "configuration and logs protected",
        },
        "roles/apache",
    ),
    SuiteControl(
        "certbot",
        "Certificates: issued by the ACME CA, ECDSA key root-only, renewed by a timer, failures reported",
        {"CC6.7": "a valid certificate is kept in place without a person renewing it"},
        "roles/certbot",
    ),
    SuiteControl(
        "django_app",
        "App host: system account, read-only code, secrets outside the release, restricted socket",
        {"CC6.1": "the app runs least-privileged and its secrets are readable by it alone"},
        "roles/django_app",
    ),
    SuiteControl(
        "postgresql",
        "PostgreSQL: TLS only, SCRAM only, least-privilege app role, append-only audit table",
        {
            "CC6.1": "the app role cannot create roles, schemas or change the audit table",
            "CC6.7": "non-TLS connections are refused; clients verify the server's name",
            "CC7.2": "every database connection is logged (who connected, from where)",
        },
        "roles/postgresql",
    ),
    SuiteControl(
        "log_shipping",
        "Logs leave the host over RELP with mutual TLS to the collector",
        {"CC7.2": "system, auth and web logs are kept off the host, from permitted senders only"},
        "roles/log_shipping",
    ),
    SuiteControl(
        "log_shipping_cloudwatch",
        "Logs reach CloudWatch Logs through the shipper (moto in tests)",
        {"CC7.2": "each kind of log lands in its log group, including lines logged during an outage"},
        "roles/log_shipping (cloudwatch transport)",
    ),
    SuiteControl(
        "log_shipping_outage",
        "No log line is lost while the collector is down",
        {"CC7.2": "the disk queue keeps every line through a collector outage"},
        "roles/log_shipping",
    ),
    SuiteControl(
        "app_end_to_end",
        "The app end to end: login, encrypted fields stored as ciphertext, failed login audited",
        {
            "CC6.1": "authentication is required and confidential fields are encrypted at rest",
            "CC7.2": "a failed login reaches the collector's audit log",
        },
        "app/ (soc2kit), roles/django_app",
    ),
    SuiteControl(
        "release_lifecycle",
        "Releases: zero-downtime deploy, a failing release refused, rollback",
        {"CC8.1": "a release that fails its readiness check never takes traffic; rollback is tested"},
        "roles/django_app (release tasks)",
    ),
    SuiteControl(
        "role_arguments",
        "Bad variables are refused before any host changes",
        {"CC8.1": "a configuration change is validated before it is applied"},
        "ansible/site.yml preflight, roles/*/meta/argument_specs.yml",
    ),
    SuiteControl(
        "secrets_aws_mode",
        "Secrets from Secrets Manager: none on disk, in the environment or in Ansible's output",
        {"CC6.1": "secrets are fetched at start and never stored on the host"},
        "roles/django_app (secrets_mode aws)",
    ),
    SuiteControl(
        "acme_server",
        "The local ACME server (pebble): test infrastructure for ENV=local, not a control",
        {},
        "roles/acme_server",
    ),
)


# The testinfra check supports what its modules support; each module's row gives the reason.
SUITE_MAPPING = {
    criterion: "see the testinfra rows of the modules that name it"
    for item in SUITE_CONTROLS
    for criterion in item.mapping
}


def suite_control(module: str) -> SuiteControl | None:
    return next((item for item in SUITE_CONTROLS if item.module == module), None)


def disruptive(module: str) -> bool:
    """A module marked disruptive as a whole changes what it tests: it runs in molecule, never in verify."""
    path = MOLECULE_DIR / "tests" / f"test_{module}.py"
    return path.is_file() and "pytestmark = pytest.mark.disruptive" in path.read_text(encoding="utf-8")
