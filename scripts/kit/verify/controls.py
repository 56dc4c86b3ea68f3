"""The controls the testinfra suite proves: one per module of molecule/tests, each mapped to the SOC2
criteria it supports with the reason (the report shows one row per module, not one per test)."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from .. import MOLECULE_DIR, ROOT, KitError
from . import exceptions


@dataclass(frozen=True)
class SuiteControl:
    """A testinfra module of molecule/tests: one control row in the report, mapped like a check. A control
    proved outside that suite names its test file and where it runs instead."""

    module: str
    title: str
    mapping: Mapping[str, str]
    implemented_in: str
    test_file: str = ""
    runs_only: str = ""

    @property
    def path(self) -> str:
        return self.test_file or f"molecule/tests/test_{self.module}.py"

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
        "daily_checks",
        "Daily read-only host checks: a timer per host, one result per control shipped, an alert on drift",
        {
            "CC7.1": "file modes, sshd -T, sysctl, audit rules, AIDE and certificates are checked every day",
            "CC7.2": "a control that passed and now fails raises a SECURITY ALERT through the log pipeline",
        },
        "roles/hardening (tasks/daily_checks.yml, files/usr/local/sbin/soc2kit-daily-checks)",
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
        test_file="tests/rehearsal/test_aws_mode.py",
        runs_only="`make test`'s rehearsal only (the app hosts deployed in the AWS modes, against moto)",
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
        "no_personal_data_in_logs",
        "No personal data in any log: a canary session leaves no trace on any app host, on the collector "
        "or in CloudWatch Logs (the rehearsal)",
        {
            "C1.1": "personal data stays out of access logs, Django's logs, the audit trail and the journal",
            "CC7.2": "the logs that leave the host carry redacted paths, not search values or ids",
        },
        "templates/nginx, templates/apache, roles/django_app (gunicorn), app/ (soc2kit.observability)",
        runs_only="molecule and `make test`'s rehearsal (marked disruptive: it drives a canary session)",
    ),
    SuiteControl(
        "own_project",
        "A team's own project (make new-project, plus an encrypted model) deploys with the same roles and "
        "passes the smoke test, ciphertext at rest and the audit-chain check",
        {
            "CC8.1": "the deployment contract is checked; one release path serves any conforming project",
            "C1.1": "the project's own encrypted field is ciphertext in the database",
        },
        "roles/django_app (project contract, release tasks), packages/soc2kit, ansible/deploy-app.yml",
        runs_only="molecule (marked disruptive: it replaces the deployed project, then rolls back)",
    ),
    SuiteControl(
        "release_lifecycle",
        "Releases: zero-downtime rolling deploy, a failing release refused, rollback",
        {"CC8.1": "a release that fails its readiness check never takes traffic; rollback is tested"},
        "roles/django_app (release tasks), ansible/deploy-app.yml, ansible/rollback.yml",
        test_file="tests/rehearsal/test_rolling.py",
        runs_only="`make test`'s rehearsal only (it deploys releases to two hosts behind the balancer)",
    ),
    SuiteControl(
        "role_arguments",
        "Bad variables are refused before any host changes",
        {"CC8.1": "a configuration change is validated before it is applied"},
        "ansible/site.yml preflight, roles/*/meta/argument_specs.yml",
    ),
    SuiteControl(
        "secrets_aws_mode",
        "Secrets from Secrets Manager: none on disk, in the environment, in a log or in Ansible's output",
        {"CC6.1": "secrets are fetched at start and never stored on the host"},
        "roles/django_app (secrets_mode aws)",
        test_file="tests/rehearsal/test_aws_mode.py",
        runs_only="`make test`'s rehearsal only (the app hosts deployed in the AWS modes, against moto)",
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
    # `pytestmark = pytest.mark.disruptive`, alone or in a list of module marks.
    return path.is_file() and bool(_MODULE_DISRUPTIVE.search(path.read_text(encoding="utf-8")))


_MODULE_DISRUPTIVE = re.compile(r"^pytestmark = (?:\[[^\]]*)?\bpytest\.mark\.disruptive\b", re.M)


# CIS Debian Linux 12 Benchmark v1.1.0, Level 1 - Server (issue 16 §1). A task of roles/hardening
# implements an id when it carries the tag cis_<id>; a testinfra test checks it when it is marked
# @pytest.mark.cis("<id>"); an id the kit does not follow is an exception of exceptions.yml (control
# testinfra, finding cis_<id>). The ids follow v1.1.0's numbering, checked in docs/cis-debian12.md.
CIS_TASKS_DIR = ROOT / "roles" / "hardening" / "tasks"
CIS_TAG = re.compile(r"^cis_(\d+(?:\.\d+)*)$")


def _cis_key(cis_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in cis_id.split("."))


def cis_implemented(tasks_dir: Path = CIS_TASKS_DIR) -> dict[str, list[str]]:
    """CIS id -> names of the role's tasks tagged cis_<id>."""
    found: dict[str, list[str]] = {}
    for path in sorted(tasks_dir.glob("*.yml")):
        for task in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            for tag in task.get("tags", []) if isinstance(task, dict) else []:
                if match := CIS_TAG.match(str(tag)):
                    found.setdefault(match.group(1), []).append(f"{path.name}: {task.get('name', '?')}")
    return dict(sorted(found.items(), key=lambda item: _cis_key(item[0])))


def _cis_marks(function: ast.FunctionDef) -> list[str]:
    ids = []
    for decorator in function.decorator_list:
        if (
            isinstance(decorator, ast.Call)
            and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr == "cis"
            and ast.unparse(decorator.func.value) == "pytest.mark"
        ):
            ids += [arg.value for arg in decorator.args if isinstance(arg, ast.Constant)]
    return [str(cis_id) for cis_id in ids]


def cis_tested(tests_dir: Path | None = None) -> dict[str, list[str]]:
    """CIS id -> the testinfra tests (module::test) marked @pytest.mark.cis("<id>", ...)."""
    tests_dir = tests_dir or MOLECULE_DIR / "tests"
    found: dict[str, list[str]] = {}
    for path in sorted(tests_dir.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                for cis_id in _cis_marks(node):
                    found.setdefault(cis_id, []).append(f"{path.name}::{node.name}")
    return dict(sorted(found.items(), key=lambda item: _cis_key(item[0])))


def cis_excepted(items: tuple[exceptions.ControlException, ...] | None = None) -> dict[str, str]:
    """CIS id -> the reason (with the equivalent control) it is not followed, from exceptions.yml."""
    items = exceptions.load() if items is None else items
    found = {
        match.group(1): item.reason
        for item in items
        if item.control == "testinfra" and (match := CIS_TAG.match(item.finding))
    }
    return dict(sorted(found.items(), key=lambda item: _cis_key(item[0])))


@dataclass(frozen=True)
class CisRow:
    cis_id: str
    implemented_by: tuple[str, ...]
    tested_by: tuple[str, ...]
    exception: str

    @property
    def state(self) -> str:
        if self.exception:
            return "excepted"
        return "implemented and tested" if self.tested_by else "implemented, not tested"


def cis_rows() -> list[CisRow]:
    """One row per CIS id the kit implements, tests or excepts; an id both excepted and implemented, or
    tested but implemented nowhere, is a contradiction worth an error, not a row."""
    implemented, tested, excepted = cis_implemented(), cis_tested(), cis_excepted()
    both = sorted(set(implemented) & set(excepted), key=_cis_key)
    orphans = sorted(set(tested) - set(implemented), key=_cis_key)
    if both or orphans:
        raise KitError(
            f"CIS ids both implemented and excepted: {both or 'none'}; tested but tagged on no task: "
            f"{orphans or 'none'}",
            "tag the task with cis_<id> (roles/hardening/tasks), or fix the exception in exceptions.yml",
        )
    ids = sorted(set(implemented) | set(excepted), key=_cis_key)
    return [
        CisRow(
            cis_id,
            tuple(implemented.get(cis_id, ())),
            tuple(tested.get(cis_id, ())),
            excepted.get(cis_id, ""),
        )
        for cis_id in ids
    ]
