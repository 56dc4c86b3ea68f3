"""Shared fixtures of the molecule verify step (testinfra) and the host-side web checks.

The scenario's web server and its loopback ports come from the scenario's environment
(SOC2KIT_WEB_SERVER, SOC2KIT_TEST_HTTPS_PORT, SOC2KIT_TEST_HTTP_PORT in molecule/*/molecule.yml).
Only the tests of the scenario's own web server are collected; the role-argument tests run once,
outside molecule (scripts/molecule.sh).
"""

from __future__ import annotations

import http.client
import json
import os
import shlex
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
import testinfra
from testinfra.utils import ansible_runner

# testinfra knows no containers.podman.podman connection, so it would run every command through an
# Ansible module call (about 1 s each under load, most of a scenario's verify time). The plugin only
# does `podman exec` on the container, which is exactly testinfra's own podman backend: use that for
# commands (Ansible-module calls such as host.ansible(...) still go through Ansible).
_PODMAN_CONNECTIONS = ("containers.podman.podman", "podman")
_ansible_host_lookup = ansible_runner.get_ansible_host


def _host_for_inventory_entry(config, inventory, host, **kwargs):
    hostvars = inventory.get("_meta", {}).get("hostvars", {}).get(host, {})
    if hostvars.get("ansible_connection") in _PODMAN_CONNECTIONS:
        return testinfra.get_host(f"podman://{hostvars.get('ansible_host', host)}")
    return _ansible_host_lookup(config, inventory, host, **kwargs)


ansible_runner.get_ansible_host = _host_for_inventory_entry
# podman needs the project's settings on these machines (runc, low ulimits), also when a module of this
# folder runs outside molecule (the fault tests run the collector-outage module against a local stack).
os.environ.setdefault("CONTAINERS_CONF", str(Path(__file__).resolve().parent.parent / "containers.conf"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "disruptive: changes the deployment or interrupts a service (deploys releases, switches the secrets "
        "mode, stops the log collector, kills gunicorn). The molecule scenarios run these tests; checks of a "
        "live deployment (`make verify`, the verify step of `make deploy`) leave them out with "
        "-m 'not disruptive'.",
    )


ROOT = Path(__file__).resolve().parents[2]


def scenario_playbook(name: str, *options: str, timeout: int = 900, **extra) -> subprocess.CompletedProcess:
    """ansible-playbook ansible/<name> against the scenario's inventory: `options` (e.g. --tags, --limit)
    go before the playbook, `extra` variables are passed as JSON."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory:
        pytest.fail("MOLECULE_INVENTORY_FILE is not set: run these tests through molecule verify")
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory, *options]
    command.append(str(ROOT / "ansible" / name))
    if extra:
        command += ["-e", json.dumps(extra)]
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible/ansible.cfg"),
        "CONTAINERS_CONF": str(ROOT / "molecule/containers.conf"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    seconds = time.monotonic() - started
    print(f"{name} {' '.join(options)} {sorted(extra)}: rc={result.returncode} in {seconds:.0f} s")
    return result


@pytest.fixture(scope="session")
def group_host(pytestconfig):
    """The first host of an inventory group: `group_host("db_hosts")` (podman hosts via `podman exec`)."""
    inventory = pytestconfig.option.ansible_inventory
    runner = ansible_runner.AnsibleRunner.get_runner(inventory)

    def first(group: str):
        names = runner.get_hosts(group)
        assert names, f"no host in group {group} of {inventory}"
        return testinfra.get_host(f"ansible://{names[0]}", ansible_inventory=inventory)

    return first


SITE_DOMAIN = "app.soc2kit.test"
WEB_SERVER = os.environ.get("SOC2KIT_WEB_SERVER", "")
IN_MOLECULE = "MOLECULE_SCENARIO_NAME" in os.environ

# Modules that do not belong to this run. molecule passes every test file explicitly, so they are
# deselected at collection (reported as deselected, never as passed or skipped).
NOT_IN_THIS_RUN: set[str] = set()
if IN_MOLECULE:
    NOT_IN_THIS_RUN.add("test_role_arguments.py")  # runs once, outside molecule (scripts/molecule.sh)
    NOT_IN_THIS_RUN.add("test_apache.py" if WEB_SERVER == "nginx" else "test_nginx.py")
    # The django_app role's release and secrets-mode mechanics do not depend on the web server: they run
    # once, in the default scenario (about 6 minutes), and the other scenarios check the deployed app.
    # Likewise the CloudWatch transport of log_shipping (its routing of Apache lines is unit-tested).
    if os.environ.get("MOLECULE_SCENARIO_NAME") != "default":
        NOT_IN_THIS_RUN.update(
            {"test_release_lifecycle.py", "test_secrets_aws_mode.py", "test_log_shipping_cloudwatch.py"}
        )


# Inventory groups of the full topology. A test module that names a group this scenario's inventory
# does not have (e.g. db_hosts before the database container joins the scenario) cannot run here.
TOPOLOGY_GROUPS = ("app_hosts", "acme_servers", "db_hosts", "log_collectors")


def _scenario_groups() -> set[str]:
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory:
        return set(TOPOLOGY_GROUPS)
    from testinfra.utils.ansible_runner import AnsibleRunner

    runner = AnsibleRunner.get_runner(inventory)
    return {group for group in TOPOLOGY_GROUPS if runner.get_hosts(group)}


def pytest_collection_modifyitems(config, items):
    present = _scenario_groups() if IN_MOLECULE else set(TOPOLOGY_GROUPS)
    reasons: dict[str, str] = {}
    for item in items:
        name = item.path.name
        if name in NOT_IN_THIS_RUN:
            reasons[name] = "not for this scenario"
            continue
        source = item.path.read_text()
        missing = [g for g in TOPOLOGY_GROUPS if f'"{g}"' in source and g not in present]
        if missing:
            reasons[name] = "scenario has no host in " + ", ".join(missing)
    deselected = [item for item in items if item.path.name in reasons]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item.path.name not in reasons]
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        for name, why in sorted(reasons.items()):
            if reporter:
                reporter.write_line(f"deselected {name}: {why}")


# Headers the web server owns on every HTTPS response, with the exact value it must send.
HSTS = "max-age=63072000; includeSubDomains"
PROXY_OWNED_HEADERS = {
    "Strict-Transport-Security": HSTS,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": (
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
        "microphone=(), payment=(), usb=()"
    ),
}
# The app's own CSP (app/config/settings/base.py, django-csp 4); the proxy passes it through once.
# django-csp does not keep the directives' order from one process to the next, so compare directives.
APP_CSP_DIRECTIVES = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
}


def csp_directives(header: str) -> dict[str, str]:
    """A Content-Security-Policy header as {directive: sources}."""
    directives = {}
    for part in header.split(";"):
        name, _, sources = part.strip().partition(" ")
        if name:
            directives[name] = sources.strip()
    return directives


@dataclass(frozen=True)
class Site:
    """Where the scenario's web server is published on loopback, and the CA its certificate chains to."""

    web_server: str
    https_port: int
    http_port: int
    acme_root: Path

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.acme_root))

    def connection(self) -> http.client.HTTPSConnection:
        """An HTTPS connection to the site on loopback, SNI set to the site's name."""
        return _SniHTTPSConnection("127.0.0.1", self.https_port, context=self.tls_context(), timeout=15)

    def https(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        """One HTTPS request to the site on loopback, SNI and Host set to the site's name."""
        conn = self.connection()
        try:
            conn.request(method, path, body=body, headers={"Host": SITE_DOMAIN, **(headers or {})})
            response = conn.getresponse()
            data = response.read()
            return response, data
        finally:
            conn.close()

    def http(self, method: str, path: str):
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=15)
        try:
            conn.request(method, path, headers={"Host": SITE_DOMAIN})
            response = conn.getresponse()
            return response, response.read()
        finally:
            conn.close()

    def handshake(self, context: ssl.SSLContext) -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", self.https_port), timeout=15)
        return context.wrap_socket(raw, server_hostname=SITE_DOMAIN)


class _SniHTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=SITE_DOMAIN)


def database_login(host, *, migrate_env: bool) -> str:
    """The PostgreSQL user a manage.py command logs in as on `host` (its name only, never the password):
    with migrate_env, as `migrate` runs during a deploy."""
    flag = "--migrate-env " if migrate_env else ""
    output = host.check_output(
        f"django-app-manage {flag}shell -c "
        '\'from django.db import connection; print("login", connection.settings_dict["USER"])\''
    )
    logins = [line.split(" ", 1)[1] for line in output.splitlines() if line.startswith("login ")]
    assert len(logins) == 1, output
    return logins[0]


@pytest.fixture(scope="session")
def app_host():
    """testinfra host of the (first) app container."""
    import testinfra

    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory:
        pytest.fail("MOLECULE_INVENTORY_FILE is not set: run these tests through molecule verify")
    hosts = testinfra.get_hosts(["ansible://app_hosts"], ansible_inventory=inventory)
    assert hosts, "no host in the app_hosts group of the molecule inventory"
    return hosts[0]


@pytest.fixture(scope="session")
def site(app_host, tmp_path_factory) -> Site:
    if WEB_SERVER not in ("nginx", "apache"):
        pytest.fail(f"SOC2KIT_WEB_SERVER={WEB_SERVER!r}: set nginx or apache (molecule.yml provisioner env)")
    # pebble regenerates its root at every start, so it is fetched now, from inside the app host
    # (which reaches the acme container by name and trusts pebble's listener CA).
    root_pem = app_host.check_output(
        "curl -fsS --cacert /etc/letsencrypt/soc2kit-acme-ca-bundle.pem https://acme:15000/roots/0"
    )
    assert "BEGIN CERTIFICATE" in root_pem
    root = tmp_path_factory.mktemp("acme") / "pebble-root.pem"
    root.write_text(root_pem + "\n")
    return Site(
        web_server=WEB_SERVER,
        https_port=int(os.environ["SOC2KIT_TEST_HTTPS_PORT"]),
        http_port=int(os.environ["SOC2KIT_TEST_HTTP_PORT"]),
        acme_root=root,
    )


MANAGE = "/usr/local/sbin/django-app-manage"
# Run by `manage.py shell -c`; the password arrives on stdin (no command line, no environment).
_CREATE_USER = """
import sys
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
username, password, kind, *groups = sys.stdin.read().split()
user = get_user_model().objects.create_user(username, password=password, is_staff=kind == "staff")
user.groups.set(Group.objects.filter(name__in=groups))
print(user.groups.count())
"""


def create_app_user(
    app_host, username: str, password: str, groups: tuple[str, ...], *, staff: bool = False
) -> None:
    """An account of the app in the given role groups (staff: may use the admin site), created through
    the release's manage.py."""
    kind = "staff" if staff else "user"
    result = app_host.run(
        f"printf '%s ' {username} {shlex.quote(password)} {kind} {' '.join(groups)} | {MANAGE} shell -c "
        f"{shlex.quote(_CREATE_USER)}"
    )
    assert result.rc == 0, result.stderr[-2000:]
    # The shell prints its start-up lines first; the script's own answer is the last line.
    assert result.stdout.strip().splitlines()[-1] == str(len(groups)), (
        f"the user did not get the groups {groups}"
    )


class Session:
    """An HTTPS client of the site on loopback that sends what a browser sends for the URL `make deploy
    ENV=local` prints: Host, Origin and Referer with the published port, a cookie jar and the CSRF header."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    @property
    def origin(self) -> str:
        return f"https://{SITE_DOMAIN}:{self.site.https_port}"

    def browser_headers(self) -> dict[str, str]:
        headers = {
            "Host": self.origin.removeprefix("https://"),
            "Origin": self.origin,
            "Referer": f"{self.origin}/",
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def keep_cookies(self, response) -> None:
        for header in response.msg.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value

    def request(self, method: str, path: str, payload: dict | None = None, headers: dict | None = None):
        """(response, body): the body parsed when it is JSON. `headers` add to or replace the defaults."""
        sent = {**self.browser_headers(), "Accept": "application/json"}
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            sent["Content-Type"] = "application/json"
        if self.csrf:
            sent["X-CSRFToken"] = self.csrf
        sent.update(headers or {})
        response, data = self.site.https(method, path, body=body, headers=sent)
        self.keep_cookies(response)
        return response, (json.loads(data) if data and data.lstrip().startswith((b"{", b"[")) else data)

    def login(self, username: str, password: str):
        response, body = self.request("GET", "/api/auth/csrf/")
        assert response.status == 200, body
        self.csrf = body["csrfToken"]
        response, body = self.request(
            "POST", "/api/auth/login/", {"username": username, "password": password}
        )
        if response.status == 200:
            self.csrf = body["csrfToken"]  # rotated on login
        return response, body
