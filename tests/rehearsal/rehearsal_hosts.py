"""The rehearsal's app hosts as tests/rehearsal reaches them: `podman exec` into the rh-app-N containers, and
the inventory's names of the hosts (the stack's instance names, for --limit and the log streams)."""

from __future__ import annotations

import os
import subprocess

from kit import rehearsal


def podman(*args: str, check: bool = True, stdin: str | None = None) -> str:
    env = {**os.environ, **rehearsal.podman_env()}
    result = subprocess.run(
        ["podman", *args], input=stdin, capture_output=True, text=True, env=env, check=False
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def on_host(index: int, command: str, check: bool = True, stdin: str | None = None) -> str:
    """Runs `command` with sh on app host `index` (0-based); its stdout."""
    exec_options = ["-i"] if stdin is not None else []
    return podman(
        "exec", *exec_options, rehearsal.app_container(index), "sh", "-c", command, check=check, stdin=stdin
    )


def readyz_status(index: int) -> str:
    """The HTTP status of /readyz from app host `index`'s gunicorn, on its socket (not through the balancer,
    which hides which host answers)."""
    return on_host(
        index,
        "curl -sS -o /dev/null -w '%{http_code}' --max-time 20 --unix-socket /run/django-app/gunicorn.sock "
        f"-H 'Host: {rehearsal.SITE_DOMAIN}' -H 'X-Forwarded-Proto: https' http://localhost/readyz",
    )


def inventory_name(index: int) -> str:
    """The inventory's name of app host `index` (the stack's instance name)."""
    inventory = rehearsal.recorded_inventory()
    hostvars = inventory["_meta"]["hostvars"]
    return next(
        name for name in inventory["app_hosts"]["hosts"] if hostvars[name]["soc2kit_host_index"] == index
    )
