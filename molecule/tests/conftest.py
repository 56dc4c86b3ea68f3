"""Shared fixtures of the testinfra suite (molecule verify, and every live check: scripts/kit/livecheck.py).

The site's name, web server, database mode, ACME server and published ports come from the inventory
the suite runs with (site_facts.py), so the same suite checks molecule, the rehearsal and AWS. Only the
tests of the inventory's own web server and groups are collected; the role-argument tests run once,
without an inventory (scripts/molecule.sh).
"""

from __future__ import annotations

import http.client
import json
import os
import re
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
import site_facts
import testinfra
import yaml
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


# The inventory of this run (--ansible-inventory, else molecule's MOLECULE_INVENTORY_FILE); None when the
# suite runs without one (the role-argument tests).
INVENTORY: str | None = None


def pytest_configure(config):
    global INVENTORY
    INVENTORY = site_facts.inventory_path(getattr(config.option, "ansible_inventory", None))
    config.addinivalue_line(
        "markers",
        "disruptive: changes the deployment or interrupts a service (deploys releases, switches the secrets "
        "mode, stops the log collector, kills gunicorn). The molecule scenarios run these tests; checks of a "
        "live deployment (`make verify`, the verify step of `make deploy`) leave them out with "
        "-m 'not disruptive'.",
    )
    config.addinivalue_line(
        "markers",
        "runs_last: replaces the deployed project (test_own_project.py deploys another one and rolls back): "
        "collected after every other test, so none of them checks the wrong project.",
    )
    config.addinivalue_line(
        "markers",
        "cis(*ids): the CIS Debian Linux 12 Benchmark v1.1.0 (Level 1 - Server) recommendations the test "
        "checks; scripts/kit/verify/controls.py reads them for CONTROLS.md and make verify's report.",
    )
    config.addinivalue_line(
        "markers",
        "groups(*names): the inventory groups the test needs, declared; without it, the groups its module's "
        "source names. A test whose groups the inventory lacks is deselected, with the reason.",
    )


ROOT = Path(__file__).resolve().parents[2]


def scenario_playbook(name: str, *options: str, timeout: int = 900, **extra) -> subprocess.CompletedProcess:
    """ansible-playbook ansible/<name> against the scenario's inventory: `options` (e.g. --tags, --limit)
    go before the playbook, `extra` variables are passed as JSON."""
    inventory = _required_inventory()
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


def _required_inventory() -> str:
    if not INVENTORY:
        pytest.fail(
            "no inventory: pass --ansible-inventory=PATH (scripts/kit/livecheck.py does), "
            "or run molecule verify"
        )
    return INVENTORY


def current_facts() -> site_facts.SiteFacts:
    """The site as the inventory describes it: domain, web server, database mode, ACME server, ports."""
    return site_facts.load(_required_inventory())


@pytest.fixture(scope="session")
def facts() -> site_facts.SiteFacts:
    return current_facts()


@pytest.fixture(scope="session")
def group_host():
    """The first host of an inventory group: `group_host("db_hosts")` (podman hosts via `podman exec`)."""
    inventory = _required_inventory()
    runner = ansible_runner.AnsibleRunner.get_runner(inventory)

    def first(group: str):
        names = runner.get_hosts(group)
        assert names, f"no host in group {group} of {inventory}"
        return testinfra.get_host(f"ansible://{names[0]}", ansible_inventory=inventory)

    return first


# Inventory groups of the full topology. A test module that names a group this run's inventory does not
# have (AWS has no db_hosts, log_collectors or acme_servers) cannot run here.
TOPOLOGY_GROUPS = site_facts.TOPOLOGY_GROUPS
WEB_SERVER_MODULES = {"nginx": "test_nginx.py", "apache": "test_apache.py"}


def modules_not_for(facts: site_facts.SiteFacts) -> dict[str, str]:
    """Test modules that do not belong to a run against this inventory, each with the reason."""
    reasons = {"test_role_arguments.py": "runs once, without an inventory (scripts/molecule.sh)"}
    for web_server, module in WEB_SERVER_MODULES.items():
        if web_server != facts.web_server:
            reasons[module] = f"the app hosts run {facts.web_server}, not {web_server}"
    return reasons


def pytest_collection_modifyitems(config, items):
    # Without an inventory (the role-argument tests) nothing here applies.
    if not INVENTORY:
        return
    # Stable: the rest keep their order.
    items.sort(key=lambda item: item.get_closest_marker("runs_last") is not None)
    facts = site_facts.load(INVENTORY)
    not_here = modules_not_for(facts)
    reasons: dict[str, str] = {}
    sources: dict[Path, str] = {}
    for item in items:
        name = item.path.name
        if name in not_here:
            reasons[item.nodeid] = not_here[name]
            continue
        declared = item.get_closest_marker("groups")
        if declared is not None:
            needed = list(declared.args)
        else:
            source = sources.setdefault(item.path, item.path.read_text())
            needed = [g for g in TOPOLOGY_GROUPS if f'"{g}"' in source or f"ansible://{g}" in source]
            needed += [group for fixture, group in FIXTURE_GROUPS.items() if fixture in item.fixturenames]
        missing = [g for g in needed if g not in facts.groups]
        if missing:
            reasons[item.nodeid] = "the inventory has no host in " + ", ".join(missing)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter:
        # What this run checks, as read from the inventory (shown even with -q).
        reporter.write_line(
            f"site: {facts.domain} via {facts.https_address}:{facts.https_port}, "
            f"web server {facts.web_server}, database {facts.database_mode}, "
            f"ACME {facts.acme_directory_url} (issuer: {facts.acme_issuer})"
        )
    deselected = [item for item in items if item.nodeid in reasons]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item.nodeid not in reasons]
        # One line per module when all its tests go for one reason, else one line per test.
        kept = {item.path.name for item in items}
        lines: dict[str, str] = {}
        for item in deselected:
            module, reason = item.path.name, reasons[item.nodeid]
            same = {reasons[i.nodeid] for i in deselected if i.path.name == module} == {reason}
            shown = module if module not in kept and same else item.nodeid.rsplit("/", 1)[-1]
            lines[shown] = reason
        for shown, why in sorted(lines.items()):
            if reporter:
                reporter.write_line(f"deselected {shown}: {why}")


# certbot's bundle of the local ACME server's listener CA on the app hosts (set up by the certbot role).
ACME_CA_BUNDLE = "/etc/letsencrypt/soc2kit-acme-ca-bundle.pem"

AIDE = "aide --config /etc/aide/aide.conf"


def aide_differences(host, limit: str) -> tuple[int, str]:
    """`aide --check` of the paths matching `limit` (read-only): its exit code and its list of differences."""
    with host.sudo():
        done = host.run(f"{AIDE} --check --limit {shlex.quote(limit)}")
    assert done.rc < 14, f"aide --check failed ({done.rc}): {done.stderr or done.stdout}"
    listed = [line for line in done.stdout.splitlines() if re.match(r"^[fdl][ =+~!.\w]*: /", line)]
    return done.rc, "\n".join(listed[:20])


# The web tier's header policy, one source for the roles and these tests (templates/web-policy.yml): the
# headers the web server owns on every HTTPS response with the exact value it must send, and the app's own
# CSP (django-csp), which the proxy passes through once. django-csp does not keep the directives' order
# from one process to the next, so the CSP is compared directive by directive.
WEB_POLICY = yaml.safe_load((ROOT / "templates" / "web-policy.yml").read_text(encoding="utf-8"))
HSTS = f"max-age={WEB_POLICY['hsts_max_age']}"
if WEB_POLICY["hsts_include_subdomains"]:
    HSTS += "; includeSubDomains"
PROXY_OWNED_HEADERS = {"Strict-Transport-Security": HSTS, **WEB_POLICY["security_headers"]}
APP_CSP_DIRECTIVES = dict(WEB_POLICY["content_security_policy"])


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
    """Where the site is published (loopback for containers, its public name on AWS), and the CA its
    certificate chains to (None: the system's trust store, as for Let's Encrypt)."""

    domain: str
    web_server: str
    address: str
    https_port: int
    http_port: int
    acme_root: Path | None

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.acme_root) if self.acme_root else None)

    def connection(self) -> http.client.HTTPSConnection:
        """An HTTPS connection to the site's published address, SNI set to the site's name."""
        return _SniHTTPSConnection(
            self.address, self.https_port, context=self.tls_context(), timeout=15, server_name=self.domain
        )

    def https(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        """One HTTPS request to the site's published address, SNI and Host set to the site's name."""
        conn = self.connection()
        try:
            conn.request(method, path, body=body, headers={"Host": self.domain, **(headers or {})})
            response = conn.getresponse()
            data = response.read()
            return response, data
        finally:
            conn.close()

    def http(self, method: str, path: str):
        conn = http.client.HTTPConnection(self.address, self.http_port, timeout=15)
        try:
            conn.request(method, path, headers={"Host": self.domain})
            response = conn.getresponse()
            return response, response.read()
        finally:
            conn.close()

    def handshake(self, context: ssl.SSLContext) -> ssl.SSLSocket:
        raw = socket.create_connection((self.address, self.https_port), timeout=15)
        return context.wrap_socket(raw, server_hostname=self.domain)


class _SniHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, server_name: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.server_name = server_name

    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.server_name)


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
def app_hosts():
    """testinfra hosts of every app host of the inventory (several behind a balancer on AWS)."""
    inventory = _required_inventory()
    hosts = testinfra.get_hosts(["ansible://app_hosts"], ansible_inventory=inventory)
    assert hosts, f"no host in the app_hosts group of {inventory}"
    return hosts


@pytest.fixture(scope="session")
def app_host(app_hosts):
    """testinfra host of the (first) app host of the inventory."""
    return app_hosts[0]


# The group each host fixture below comes from: a test that uses one (directly or through another fixture)
# cannot run against an inventory without that group (AWS has no collector and no database host).
FIXTURE_GROUPS = {"collector": "log_collectors", "db": "db_hosts"}


@pytest.fixture(scope="session")
def collector(group_host):
    """testinfra host of the central log collector (ENV=local and molecule only)."""
    return group_host("log_collectors")


@pytest.fixture(scope="session")
def db(group_host):
    """testinfra host of the PostgreSQL server (ENV=local and molecule only; AWS uses RDS)."""
    return group_host("db_hosts")


@pytest.fixture(scope="session")
def site(facts, app_host, tmp_path_factory) -> Site:
    root = None
    if facts.acme_root_url:
        # pebble regenerates its root at every start, so it is fetched now, from inside the app host
        # (which reaches the ACME server by name and trusts pebble's listener CA).
        root_pem = app_host.check_output(f"curl -fsS --cacert {ACME_CA_BUNDLE} {facts.acme_root_url}")
        assert "BEGIN CERTIFICATE" in root_pem
        root = tmp_path_factory.mktemp("acme") / "acme-root.pem"
        root.write_text(root_pem + "\n")
    return Site(
        domain=facts.domain,
        web_server=facts.web_server,
        address=facts.https_address,
        https_port=facts.https_port,
        http_port=facts.http_port,
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
        return f"https://{self.site.domain}:{self.site.https_port}"

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
