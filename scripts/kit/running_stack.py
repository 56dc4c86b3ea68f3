"""A running ENV=local stack, seen from this machine: its containers, the site on loopback, the site's
CA, commands inside the containers (podman exec), the app's manage.py wrapper and API test users.

Used by `make loadtest` (kit.loadtest) and the fault tests (tests/fault/). It never starts anything:
when no stack runs it says how to bring one up (`make deploy ENV=local`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import KitError
from .local import (
    LOOPBACK,
    MANAGE_COMMAND,
    SITE_NAME,
    Scenario,
    molecule_env,
    podman,
    scenario_for,
    site_ca_file,
)

# Role groups of the app (app/demo/accounts/roles.py).
EDITOR_GROUPS = ("customer_editor", "customer_reader_full")
MASKED_GROUPS = ("customer_reader_masked",)

# Run by `manage.py shell -c`: creates or updates each user from the JSON on stdin
# ({username: {"password": ..., "groups": [...]}}) so passwords are on no command line; a missing
# group (migrations not applied) exits 4 naming it.
_ENSURE_USERS = """
import json, sys
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
wanted = json.loads(sys.stdin.read())
names = {g for spec in wanted.values() for g in spec["groups"]}
found = {g.name: g for g in Group.objects.filter(name__in=names)}
missing = sorted(names - set(found))
if missing:
    print("missing role groups: " + ", ".join(missing), file=sys.stderr)
    sys.exit(4)
users = get_user_model().objects
for username, spec in wanted.items():
    user, _ = users.get_or_create(username=username)
    user.is_staff = False
    user.is_superuser = False
    user.set_password(spec["password"])
    user.save()
    user.groups.set([found[g] for g in spec["groups"]])
print("users ready: " + ", ".join(sorted(wanted)))
"""


@dataclass(frozen=True)
class RunningStack:
    web: str
    scenario: Scenario
    https_port: int
    http_port: int
    ca_file: Path

    @property
    def app(self) -> str:
        return self.scenario.container("app_hosts")

    @property
    def acme(self) -> str:
        return self.scenario.container("acme_servers")

    def container(self, group: str) -> str:
        return self.scenario.container(group)

    @property
    def https_url(self) -> str:
        return f"https://{LOOPBACK}:{self.https_port}"

    def exec(
        self,
        container: str,
        command: Sequence[str],
        *,
        stdin: str | None = None,
        check: bool = True,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """Runs `command` in `container`; with check, a non-zero exit raises KitError with its stderr."""
        result = subprocess.run(  # noqa: S603
            [podman(), "exec", *(["-i"] if stdin is not None else []), container, *command],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env={**os.environ, **molecule_env()},
        )
        if check and result.returncode != 0:
            raise KitError(
                f"`{' '.join(command)}` in container {container} exited with {result.returncode}: "
                + (result.stderr.strip() or result.stdout.strip())[-800:],
                f"check the container: podman exec {container} systemctl --failed",
            )
        return result

    def sh(self, container: str, script: str, **kwargs) -> subprocess.CompletedProcess[str]:
        return self.exec(container, ["sh", "-c", script], **kwargs)

    def manage(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`manage.py ARGS` of the current release, as the app user with the app's environment."""
        return self.exec(self.app, [MANAGE_COMMAND, *args], stdin=stdin, check=check)

    def container_pid(self, container: str) -> int:
        result = subprocess.run(  # noqa: S603
            [podman(), "container", "inspect", "--format", "{{.State.Pid}}", container],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **molecule_env()},
        )
        if result.returncode != 0 or not result.stdout.strip().isdigit() or result.stdout.strip() == "0":
            raise KitError(f"container {container} is not running", "run `make deploy ENV=local`")
        return int(result.stdout.strip())

    def gunicorn_socket(self) -> str:
        """gunicorn's unix socket as a path on this machine (through /proc/<pid>/root of the app container).

        Only root gets through it (the socket is root:www-data 0660 in the container); the direct
        measurement uses it so that the same client, on the same CPUs, drives both paths.
        """
        listen = self.exec(
            self.app, ["systemctl", "show", "--property=Listen", "--value", "django-app.socket"]
        )
        match = re.match(r"(/\S+)\s+\(Stream\)", listen.stdout.strip())
        if not match:
            raise KitError(
                f"django-app.socket listens on {listen.stdout.strip()!r}, not on a unix socket",
                f"check the django_app role's units: podman exec {self.app} systemctl cat django-app.socket",
            )
        path = f"/proc/{self.container_pid(self.app)}/root{match.group(1)}"
        if not Path(path).is_socket():
            raise KitError(
                f"gunicorn's socket {path} does not exist",
                f"podman exec {self.app} systemctl status django-app.socket",
            )
        return path

    def ensure_api_users(self, prefix: str) -> dict[str, dict[str, str]]:
        """An editor (customer_editor + customer_reader_full) and a masked reader, with new passwords.

        Returns {"editor": {"username", "password"}, "masked": {...}}. The passwords are generated here
        for this run and reach the app on stdin only.
        """
        users = {
            "editor": (f"{prefix}-editor", EDITOR_GROUPS),
            "masked": (f"{prefix}-masked", MASKED_GROUPS),
        }
        credentials = {
            role: {"username": name, "password": secrets.token_urlsafe(24)}
            for role, (name, _) in users.items()
        }
        wanted = {
            name: {"password": credentials[role]["password"], "groups": list(groups)}
            for role, (name, groups) in users.items()
        }
        result = self.manage("shell", "-c", _ENSURE_USERS, stdin=json.dumps(wanted), check=False)
        if result.returncode != 0:
            raise KitError(
                f"cannot create the test users in container {self.app}: {result.stderr.strip()[-500:]}",
                f"check the app: podman exec {self.app} {MANAGE_COMMAND} showmigrations",
            )
        return credentials


def published_port(scenario: Scenario, container_port: int) -> int:
    """The loopback port the scenario's app container publishes for `container_port`."""
    app = scenario.container("app_hosts")
    for platform in scenario.platforms:
        if platform.get("name") != app:
            continue
        for spec in platform.get("published_ports") or []:
            parts = str(spec).split(":")
            if len(parts) == 3 and parts[0] == LOOPBACK and parts[2].split("/")[0] == str(container_port):
                return int(parts[1])
    raise KitError(
        f"the molecule scenario {scenario.name} publishes no {LOOPBACK}:<port>:{container_port} for {app}",
        f"check {scenario.directory}/molecule.yml",
    )


def _scenario(web: str) -> Scenario:
    """WEB's molecule scenario, or the stack described by SOC2KIT_STACK_FILE (a file with a molecule-style
    `platforms:` list: names, groups, published_ports), e.g. a stack brought up outside molecule."""
    override = os.environ.get("SOC2KIT_STACK_FILE")
    if not override:
        return scenario_for(web)
    path = Path(override)
    try:
        platforms = list((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("platforms") or [])
    except (OSError, yaml.YAMLError) as error:
        raise KitError(
            f"SOC2KIT_STACK_FILE={override}: {error}", "point it at a file with a platforms: list"
        ) from error
    if not platforms:
        raise KitError(
            f"SOC2KIT_STACK_FILE={override} has no platforms", "list the containers under platforms:"
        )
    return Scenario(f"stack-{path.stem}", path.parent, platforms, {})


def connect(web: str) -> RunningStack:
    """The running stack of WEB's scenario; KitError if it is not up, or the other web server's is."""
    scenario = _scenario(web)
    https_port = published_port(scenario, 443)
    app = scenario.container("app_hosts")
    result = subprocess.run(  # noqa: S603
        [podman(), "port", app, "443/tcp"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **molecule_env()},
    )
    if result.returncode != 0:
        raise KitError(
            f"no running app container {app!r} for WEB={web}: {result.stderr.strip()}",
            f"bring the stack up first: make deploy ENV=local WEB={web}",
        )
    if f"{LOOPBACK}:{https_port}" not in result.stdout:
        raise KitError(
            f"the running container {app!r} publishes {result.stdout.strip() or 'nothing'} for 443, "
            f"not {LOOPBACK}:{https_port}: it belongs to the other web server's scenario",
            "run with the WEB= of the stack that is up, or `make deploy ENV=local WEB=...` first",
        )
    return RunningStack(
        web=web,
        scenario=scenario,
        https_port=https_port,
        http_port=published_port(scenario, 80),
        ca_file=site_ca_file(scenario),
    )


__all__ = ["SITE_NAME", "RunningStack", "connect", "published_port"]
