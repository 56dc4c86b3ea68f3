"""The `podman` connection (ansible/plugins/connection/podman.py) pipelines: one `podman exec` per module
and no `podman mount` unless a file is copied. A fake podman runs the commands on this machine and records
each call, so the test needs no container."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT, VENV_BIN

FAKE_PODMAN = """#!/bin/sh
# Fake podman: records its arguments, "mounts" every container at /, runs `exec NAME CMD...` here.
printf '%s\\n' "$*" >> "{log}"
case "$1" in
  mount) echo / ;;
  exec) shift; [ "$1" = --interactive ] && shift; shift; exec "$@" ;;
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


def run_playbook(tmp_path: Path, playbook: str) -> list[str]:
    """Runs `playbook` on the fake container "box"; returns the podman calls it made."""
    log = tmp_path / "podman.log"
    log.unlink(missing_ok=True)
    podman = tmp_path / "podman"
    podman.write_text(FAKE_PODMAN.format(log=log))
    podman.chmod(0o755)
    (tmp_path / "play.yml").write_text(playbook)
    inventory = f"box ansible_connection=podman ansible_podman_executable={podman} "
    (tmp_path / "hosts").write_text(inventory + f"ansible_python_interpreter={sys.executable}\n")
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "local-tmp"),
        "ANSIBLE_REMOTE_TMP": str(tmp_path / "remote-tmp"),
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
    return log.read_text().splitlines()


def test_podman_connection_runs_a_module_in_one_podman_exec(tmp_path: Path) -> None:
    # Without pipelining: mount, mkdir of a temporary directory, chmod/run, rm (4 podman calls).
    assert run_playbook(tmp_path, PING) == [f"exec --interactive box /bin/sh -c {sys.executable} && sleep 0"]


def test_podman_connection_still_copies_files_through_the_mount(tmp_path: Path) -> None:
    dest = tmp_path / "copied.txt"
    calls = run_playbook(tmp_path, COPY.format(dest=dest))
    assert dest.read_text() == "copied\n"
    assert calls.count("mount box") == 1, calls
