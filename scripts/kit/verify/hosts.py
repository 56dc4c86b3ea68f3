"""Running commands on the app hosts: `podman exec` on the local containers, Ansible for AWS hosts.

Both return, per host, the exit status and the output; a host that cannot be reached raises CheckError.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .result import CheckError

COMMAND_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class Completed:
    host: str
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + (("\n" + self.stderr) if self.stderr.strip() else "")


def run_local(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: int = COMMAND_TIMEOUT_SECONDS,
    cwd: Path | None = None,
) -> Completed:
    """A command on the controller; a missing tool raises CheckError naming it."""
    if shutil.which(command[0]) is None and not Path(command[0]).is_file():
        raise CheckError(f"`{command[0]}` is not installed (needed to run: {' '.join(command[:3])} ...)")
    try:
        result = subprocess.run(  # noqa: S603
            list(command),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
    except subprocess.TimeoutExpired as error:
        raise CheckError(f"`{' '.join(command[:4])} ...` did not finish within {timeout} s") from error
    return Completed("controller", result.returncode, result.stdout, result.stderr)


class PodmanHosts:
    """The local stack's app containers (ENV=local)."""

    def __init__(self, containers: Sequence[str], env: Mapping[str, str]) -> None:
        self.names = list(containers)
        self.env = dict(env)

    def run(self, host: str, script: str, *, stdin: str | None = None) -> Completed:
        command = ["podman", "exec", *(["-i"] if stdin is not None else []), host, "sh", "-c", script]
        if shutil.which("podman") is None:
            raise CheckError("podman is not installed; run `make setup`")
        try:
            result = subprocess.run(  # noqa: S603
                command,
                capture_output=True,
                text=True,
                check=False,
                input=stdin,
                timeout=COMMAND_TIMEOUT_SECONDS,
                env={**os.environ, **self.env},
            )
        except subprocess.TimeoutExpired as error:
            raise CheckError(
                f"`{script[:60]}` on {host} did not finish in {COMMAND_TIMEOUT_SECONDS} s"
            ) from error
        if (
            result.returncode in (125, 126, 127)
            and "Error:" in result.stderr
            and "container" in result.stderr
        ):
            raise CheckError(f"cannot run commands in container {host}: {result.stderr.strip()}")
        return Completed(host, result.returncode, result.stdout, result.stderr)


def parse_ansible_json(text: str) -> dict[str, Completed]:
    """Per-host results of `ansible -m ansible.builtin.shell` with the ansible.posix.json callback."""
    try:
        # Other callbacks (e.g. profile_tasks) may print before and after the JSON document.
        data, _ = json.JSONDecoder().raw_decode(text[text.index("{") :])
    except ValueError as error:
        raise CheckError(f"Ansible printed no JSON result: {text.strip()[:300]}") from error
    results: dict[str, Completed] = {}
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            for host, outcome in task.get("hosts", {}).items():
                if outcome.get("unreachable"):
                    raise CheckError(f"host {host} is unreachable: {outcome.get('msg', '')}")
                if "rc" not in outcome:
                    raise CheckError(f"the command did not run on {host}: {outcome.get('msg', '')}")
                results[host] = Completed(
                    host, int(outcome["rc"]), outcome.get("stdout", ""), outcome.get("stderr", "")
                )
    return results


class AnsibleHosts:
    """AWS app hosts through Ansible with the ENV's inventory (SSH or SSM, as `make deploy` uses)."""

    def __init__(self, inventory: Path, names: Sequence[str], env: Mapping[str, str]) -> None:
        self.inventory = inventory
        self.names = list(names)
        self.env = dict(env)

    def run(self, host: str, script: str, *, stdin: str | None = None) -> Completed:
        if stdin is not None:
            raise CheckError("stdin is not supported through Ansible ad-hoc commands")
        completed = run_local(
            [
                "ansible",
                host,
                "-i",
                str(self.inventory),
                "--become",
                "-m",
                "ansible.builtin.shell",
                "-a",
                script,
            ],
            env={
                **self.env,
                "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
                "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            },
        )
        results = parse_ansible_json(completed.stdout)
        if host not in results:
            raise CheckError(f"Ansible returned no result for {host}: {completed.stderr.strip()[:300]}")
        return results[host]
