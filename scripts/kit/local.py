"""ENV=local: the molecule scenario of the chosen web server is the engine (WEB=nginx -> `default`,
WEB=apache -> `apache`). Deploy = set-up + create + converge + verify, and the containers keep
running (no destroy); `make destroy ENV=local` removes them.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import ANSIBLE_DIR, LOCAL_SCENARIOS, MOLECULE_DIR, ROOT, KitError
from .livecheck import live_check
from .smoke import smoke_test
from .stages import Pipeline, log_path, run

# What the scenarios publish on the loopback interface (never on other addresses).
SITE_NAME = "app.soc2kit.test"
# Loopback ports of the default scenario; each scenario names its own in molecule.yml's provisioner env.
HTTPS_PORT = 8443
HTTP_PORT = 8080
LOOPBACK = "127.0.0.1"
# Where the site's CA certificate (the local ACME server's root) is written for clients.
LOCAL_STATE_DIR = ROOT / ".cache" / "local"
ADMIN_USER = "admin"
ADMIN_EMAIL = "admin@soc2kit.test"
# The django_app role's manage.py wrapper on the host (runs as the app user with the app's environment).
MANAGE_COMMAND = "/usr/local/sbin/django-app-manage"
# Where the log collector container stores what the app host ships.
COLLECTOR_LOG_DIR = "/var/log/remote"
_RECAP = re.compile(r"^[\s\u2502]*(\S+)\s*:\s*ok=\d+\s+changed=(\d+)", re.MULTILINE)
# molecule frames ansible's output in colour and a box ("  \u2502 app : ok=..."): codes are removed first.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Scenario:
    name: str
    directory: Path
    platforms: list[dict[str, Any]]
    env: dict[str, str]

    @property
    def https_port(self) -> int:
        return int(self.env.get("SOC2KIT_TEST_HTTPS_PORT", HTTPS_PORT))

    @property
    def http_port(self) -> int:
        return int(self.env.get("SOC2KIT_TEST_HTTP_PORT", HTTP_PORT))

    def find(self, group: str) -> str | None:
        """The container of the first platform in the molecule group `group`, if any."""
        for platform in self.platforms:
            if group in platform.get("groups", []):
                return str(platform["name"])
        return None

    def container(self, group: str) -> str:
        name = self.find(group)
        if name is None:
            raise KitError(
                f"molecule scenario {self.name} has no platform in group {group}",
                f"check {self.directory}/molecule.yml",
            )
        return name


def scenario_for(web: str) -> Scenario:
    name = LOCAL_SCENARIOS[web]
    directory = MOLECULE_DIR / name
    config_file = directory / "molecule.yml"
    if not config_file.is_file():
        raise KitError(
            f"the molecule scenario {name!r} (WEB={web}) is missing: {config_file} does not exist",
            "restore molecule/ from git",
        )
    data = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    env = (data.get("provisioner") or {}).get("env") or {}
    return Scenario(name, directory, list(data.get("platforms") or []), {k: str(v) for k, v in env.items()})


def podman() -> str:
    path = shutil.which("podman")
    if path is None:
        raise KitError("podman is not on PATH", "run `make setup` (Debian package podman)")
    return path


def molecule_env() -> dict[str, str]:
    return {
        "CONTAINERS_CONF": str(MOLECULE_DIR / "containers.conf"),
        "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
    }


def container_running(container: str) -> bool:
    """Whether podman runs `container` now (with the kit's containers.conf)."""
    done = subprocess.run(  # noqa: S603
        [podman(), "inspect", "--format", "{{.State.Running}}", container],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **molecule_env()},
    )
    return done.stdout.strip() == "true"


def check_local_tools() -> None:
    missing = [
        tool for tool in ("podman", "runc", "molecule", "ansible-playbook") if shutil.which(tool) is None
    ]
    if missing:
        raise KitError(
            f"{', '.join(missing)} not on PATH",
            "run `make setup` (Debian packages and .venv) and use the make targets",
        )


def changes_in_recap(output: str) -> int:
    """Total `changed=` of the PLAY RECAP lines (the last recap when there are several)."""
    return sum(int(count) for _, count in _RECAP.findall(_ANSI.sub("", output)))


def converge(scenario: Scenario) -> None:
    output = run(
        ["molecule", "converge", "-s", scenario.name],
        what=f"molecule converge (scenario {scenario.name})",
        fix="the failed task is named above; fix it and run `make deploy ENV=local` again "
        "(it resumes on the same containers)",
        env=molecule_env(),
        log=log_path(f"{scenario.name}-converge"),
    )
    changed = changes_in_recap(output)
    state = "no changes (already converged)" if changed == 0 else f"{changed} change(s) applied"
    print(f"converge: {state}", file=sys.stderr)


def acme_root_pem(container: str) -> str:
    """pebble's issuing root (new at every start: the site certificate's CA), read inside `container`."""
    result = subprocess.run(  # noqa: S603
        [
            podman(),
            "exec",
            container,
            "curl",
            "-fsS",
            "--cacert",
            "/etc/pebble/listener/ca.pem",
            "https://localhost:15000/roots/0",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **molecule_env()},
    )
    if result.returncode != 0 or "BEGIN CERTIFICATE" not in result.stdout:
        raise KitError(
            f"cannot read the local ACME server's root certificate from container {container}: "
            + result.stderr.strip(),
            f"check that pebble runs in {container} (`podman exec {container} systemctl status pebble`)",
        )
    return result.stdout


def site_ca_file(scenario: Scenario) -> Path:
    """Saves the local ACME server's root (the CA of the site's certificate) for curl and browsers."""
    path = LOCAL_STATE_DIR / scenario.name / "site-ca.pem"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(acme_root_pem(scenario.container("acme_servers")), encoding="utf-8")
    return path


def verify(scenario: Scenario) -> None:
    check = live_check(scenario=scenario.name)
    run(
        check.command,
        what=f"molecule verify (scenario {scenario.name})",
        fix="the failed controls are listed above",
        env={**molecule_env(), **check.env},
        log=log_path(f"{scenario.name}-verify"),
    )
    smoke_test(
        SITE_NAME,
        scenario.https_port,
        http_port=scenario.http_port,
        cafile=str(site_ca_file(scenario)),
        connect_to=LOOPBACK,
    )


# Run by `manage.py shell -c`: the password arrives on stdin, so it is on no command line and in no
# environment; exit status 3 means the user already existed (its password is left alone).
_CREATE_ADMIN = (
    "import sys\n"
    "from django.contrib.auth import get_user_model\n"
    "users = get_user_model().objects\n"
    f"if users.filter(username={ADMIN_USER!r}).exists(): sys.exit(3)\n"
    f"users.create_superuser({ADMIN_USER!r}, {ADMIN_EMAIL!r}, sys.stdin.readline().strip())\n"
)


def ensure_admin_user(scenario: Scenario, manage_command: str = MANAGE_COMMAND) -> str | None:
    """Creates the admin user once with a generated password (returned, shown once); None if it exists."""
    app = scenario.container("app_hosts")
    password = secrets.token_urlsafe(18)
    result = subprocess.run(  # noqa: S603
        [podman(), "exec", "-i", app, manage_command, "shell", "-c", _CREATE_ADMIN],
        input=password + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 3:
        return None
    if result.returncode in (126, 127):  # podman exec: the command does not exist in the container
        raise KitError(
            f"the Django app is not deployed in container {app} ({manage_command} is missing)",
            "run `make deploy ENV=local` again: its converge step deploys the app (role django_app)",
        )
    if result.returncode != 0:
        raise KitError(
            f"cannot create the admin user in container {app}: {result.stderr.strip()[-500:]}",
            f"check the app: `podman exec {app} systemctl status django-app`",
        )
    return password


def admin_password_file(scenario: Scenario) -> Path:
    return LOCAL_STATE_DIR / scenario.name / "admin-password"


def save_admin_password(scenario: Scenario, password: str) -> Path:
    """Writes the new admin password to a file only root can read; the screen (and any captured log of
    it) shows the file's path, never the password."""
    path = admin_password_file(scenario)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a new file, so the mode below holds whatever was there before
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(password + "\n")
    return path


def print_access(scenario: Scenario, password: str | None) -> None:
    app = scenario.container("app_hosts")
    collector = scenario.find("log_collectors")
    logs = (
        f"podman exec {collector} ls -R {COLLECTOR_LOG_DIR}  (the collector container)"
        if collector
        else f"this scenario has no collector container; on the host: podman exec {app} journalctl -f"
    )
    ca = LOCAL_STATE_DIR / scenario.name / "site-ca.pem"
    url = f"https://{SITE_NAME}:{scenario.https_port}/"
    login = (
        f"user {ADMIN_USER}, password in {save_admin_password(scenario, password)}"
        " (mode 0600; delete it once you have logged in)"
        if password
        else f"user {ADMIN_USER} exists; to set a new password: "
        f"podman exec -it {app} {MANAGE_COMMAND} changepassword {ADMIN_USER}"
    )
    print(
        f"""
The local stack is running (scenario {scenario.name}, containers keep running).
  URL:       {url}  (published on {LOOPBACK} only)
             curl --resolve {SITE_NAME}:{scenario.https_port}:{LOOPBACK} --cacert {ca} {url}readyz
             or add "{LOOPBACK} {SITE_NAME}" to /etc/hosts and trust {ca} in the browser
  Log in:    {url}admin/  {login}
  Logs:      {logs}
  Tear down: make destroy ENV=local
""",
        flush=True,
    )


def deploy(web: str) -> Pipeline:
    pipeline = Pipeline(f"make deploy ENV=local WEB={web}")
    holder: dict[str, Any] = {}
    pipeline.add(
        "set-up (Debian packages, .venv)",
        lambda: run([str(ROOT / "scripts" / "bootstrap.sh")], what="set-up", fix="see above"),
    )
    pipeline.add(
        "test-host image",
        lambda: run(
            [str(ROOT / "scripts" / "build-test-image.sh")],
            what="image build",
            fix="see above (needs root and Debian's mirror)",
        ),
    )

    def preflight() -> None:
        check_local_tools()
        holder["scenario"] = scenario_for(web)

    pipeline.add("preflight", preflight)
    pipeline.add("converge (molecule create + converge)", lambda: converge(holder["scenario"]))
    pipeline.add("verify (testinfra + HTTPS smoke test)", lambda: verify(holder["scenario"]))
    pipeline.add("admin user", lambda: holder.__setitem__("password", ensure_admin_user(holder["scenario"])))
    pipeline.add("access details", lambda: print_access(holder["scenario"], holder.get("password")))
    return pipeline


def _molecule_destroy(name: str) -> Callable[[], object]:
    command = ["molecule", "destroy", "-s", name]
    return lambda: run(command, what=" ".join(command), fix="see above", env=molecule_env())


def destroy(web: str) -> Pipeline:
    pipeline = Pipeline("make destroy ENV=local")
    for other_web, name in LOCAL_SCENARIOS.items():
        if (MOLECULE_DIR / name / "molecule.yml").is_file() or other_web == web:
            pipeline.add(f"molecule destroy -s {name}", _molecule_destroy(name))
    return pipeline


def scenario_inventory(scenario: Scenario) -> Path:
    """An Ansible inventory of the scenario's containers (its platforms by group) with the local
    group_vars, for playbooks run outside molecule (rollback.yml): WEB=apache has other container names."""
    folder = LOCAL_STATE_DIR / scenario.name / "inventory"
    folder.mkdir(parents=True, exist_ok=True)
    groups: dict[str, dict[str, Any]] = {}
    for platform in scenario.platforms:
        for group in platform.get("groups", []):
            groups.setdefault(group, {"hosts": {}})["hosts"][str(platform["name"])] = None
    inventory = {
        "all": {
            "vars": {
                "ansible_connection": "podman",  # the kit's pipelining plugin (ansible/plugins/connection)
                "ansible_python_interpreter": "/usr/bin/python3",
            },
            "children": groups,
        }
    }
    (folder / "hosts.yml").write_text(
        "# Generated by `make rollback ENV=local` from molecule/"
        + scenario.name
        + "/molecule.yml.\n"
        + yaml.safe_dump(inventory, sort_keys=True),
        encoding="utf-8",
    )
    group_vars = folder / "group_vars"
    if not group_vars.is_symlink():
        group_vars.symlink_to(ANSIBLE_DIR / "inventories" / "local" / "group_vars")
    return folder


def rollback(web: str, environ: dict[str, str]) -> Pipeline:
    pipeline = Pipeline(f"make rollback ENV=local WEB={web}")

    def roll_back() -> None:
        scenario = scenario_for(web)
        command = [
            "ansible-playbook",
            "-i",
            str(scenario_inventory(scenario)),
            str(ANSIBLE_DIR / "rollback.yml"),
        ]
        if environ.get("RELEASE"):
            command += ["-e", f"django_app_rollback_to={environ['RELEASE']}"]
        # The group_vars read the scenario's name (its PKI and generated passwords) and web server.
        env = {
            **molecule_env(),
            "MOLECULE_SCENARIO_NAME": scenario.name,
            "SOC2KIT_WEB_SERVER": scenario.env.get("SOC2KIT_WEB_SERVER", web),
        }
        run(command, what="rollback", fix="see above", env=env)

    pipeline.add("ansible-playbook rollback.yml", roll_back)
    return pipeline


def verify_pipeline(web: str) -> Pipeline:
    pipeline = Pipeline(f"verify ENV=local WEB={web}")
    pipeline.add("verify (testinfra + HTTPS smoke test)", lambda: verify(scenario_for(web)))
    return pipeline
