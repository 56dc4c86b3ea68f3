"""The `podman` connection (ansible/plugins/connection/podman.py) pipelines: one `podman exec` per module
and no `podman mount` unless a file is copied; as root it enters the container's namespaces with nsenter
instead, with only the container's environment. A fake podman runs the commands on this machine and records
each call; its `inspect` describes this test's own process as the container, so the test needs none."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, VENV_BIN

FAKE_PODMAN = """#!/bin/sh
# Fake podman: records its arguments, "mounts" every container at /, runs `exec NAME CMD...` here.
printf '%s\\n' "$*" >> "{log}"
case "$1" in
  mount) echo / ;;
  exec) shift; [ "$1" = --interactive ] && shift; shift; exec "$@" ;;
  inspect) [ -f "{inspect}" ] && exec cat "{inspect}"; exit 125 ;;
  *) exit 1 ;;
esac
"""

PING = """
- hosts: box
  gather_facts: false
  tasks:
    - ansible.builtin.ping:
"""

COPY = """
- hosts: box
  gather_facts: false
  tasks:
    - ansible.builtin.copy: {{content: "copied\\n", dest: "{dest}", mode: "0600"}}
"""


def run_playbook(tmp_path: Path, playbook: str, *, nsenter: bool = False) -> list[str]:
    """Runs `playbook` on the fake container "box"; returns the podman calls it made. Without `nsenter`,
    the plugin's nsenter path is switched off (SOC2KIT_PODMAN_NSENTER=0): every command is a podman exec."""
    log = tmp_path / "podman.log"
    log.unlink(missing_ok=True)
    podman = tmp_path / "podman"
    podman.write_text(FAKE_PODMAN.format(log=log, inspect=tmp_path / "inspect.json"))
    podman.chmod(0o755)
    (tmp_path / "play.yml").write_text(playbook)
    inventory = f"box ansible_connection=podman ansible_podman_executable={podman} "
    (tmp_path / "hosts").write_text(inventory + f"ansible_python_interpreter={sys.executable}\n")
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "local-tmp"),
        "ANSIBLE_REMOTE_TMP": str(tmp_path / "remote-tmp"),
        "HOME": str(tmp_path / "home"),  # the plugin's cache of container PIDs: ~/.ansible/...
        "SOC2KIT_PODMAN_NSENTER": "1" if nsenter else "0",
        "SOC2KIT_CONTROLLER_ONLY": "leaks-if-seen",
    }
    result = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(tmp_path / "hosts"), str(tmp_path / "play.yml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return log.read_text().splitlines() if log.exists() else []


def test_podman_connection_runs_a_module_in_one_podman_exec(tmp_path: Path) -> None:
    # Without pipelining: mount, mkdir of a temporary directory, chmod/run, rm (4 podman calls).
    assert run_playbook(tmp_path, PING) == [f"exec --interactive box /bin/sh -c {sys.executable} && sleep 0"]


def test_podman_connection_still_copies_files_through_the_mount(tmp_path: Path) -> None:
    dest = tmp_path / "copied.txt"
    calls = run_playbook(tmp_path, COPY.format(dest=dest))
    assert dest.read_text() == "copied\n"
    assert calls.count("mount box") == 1, calls


ENV_PLAY = """
- hosts: box
  gather_facts: false
  tasks:
    - ansible.builtin.shell: env > {out}
"""


def _inspect_as_container(tmp_path: Path, pid: int) -> None:
    """The fake `podman inspect box`: this process as the container's main process, with its own env."""
    cgroup = Path(f"/proc/{pid}/cgroup").read_text().split(":")[-1].strip()
    environment = ["PATH=/usr/bin:/bin", "container=box"]
    details = {"Id": cgroup, "State": {"Pid": pid}, "Config": {"Env": environment}}
    (tmp_path / "inspect.json").write_text(json.dumps([details]))


def _require_nsenter() -> None:
    if os.geteuid() != 0 or not shutil.which("nsenter"):
        pytest.fail("this test needs root and nsenter (util-linux), as make deploy ENV=local has")


def test_as_root_commands_enter_the_namespaces_with_only_the_containers_environment(tmp_path: Path) -> None:
    _require_nsenter()
    _inspect_as_container(tmp_path, os.getpid())
    out = tmp_path / "env.txt"
    calls = run_playbook(tmp_path, ENV_PLAY.format(out=out), nsenter=True)
    # One inspect, then no podman exec at all: the command ran through nsenter.
    assert calls == ["inspect --type container box"], calls
    seen = out.read_text()
    assert "container=box" in seen
    assert "SOC2KIT_CONTROLLER_ONLY" not in seen  # nothing of the controller's environment
    cache = tmp_path / "home" / ".ansible" / "soc2kit-podman-namespaces"
    assert oct(cache.stat().st_mode & 0o777) == "0o700"
    # The next run uses the cached entry: not even an inspect.
    assert run_playbook(tmp_path, PING, nsenter=True) == []


def test_a_restarted_container_is_inspected_again(tmp_path: Path) -> None:
    _require_nsenter()
    _inspect_as_container(tmp_path, os.getpid())
    run_playbook(tmp_path, PING, nsenter=True)
    # The cached process ends (a container restart): its entry no longer matches, podman is asked again.
    gone = subprocess.Popen(["sleep", "0"])
    gone.wait()
    entry_file = tmp_path / "home" / ".ansible" / "soc2kit-podman-namespaces" / "box.json"
    entry = json.loads(entry_file.read_text())
    entry_file.write_text(json.dumps({**entry, "pid": gone.pid}))
    assert run_playbook(tmp_path, PING, nsenter=True) == ["inspect --type container box"]


def test_without_a_container_process_commands_go_through_podman_exec(tmp_path: Path) -> None:
    # inspect fails (no such container): the plugin falls back to podman exec.
    calls = run_playbook(tmp_path, PING, nsenter=True)
    assert calls == [
        "inspect --type container box",
        f"exec --interactive box /bin/sh -c {sys.executable} && sleep 0",
    ], calls
