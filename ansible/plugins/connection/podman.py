"""containers.podman's podman connection, with pipelining.

molecule's podman driver writes `ansible_connection: podman` into its inventories, so this plugin, found
through `connection_plugins` in ansible.cfg, takes that short name. The collection's plugin never passes
stdin to `podman exec`, so it cannot pipeline: every module then costs a `podman mount` and three
`podman exec` calls (make a temporary directory, run the module file, remove it). Here the module goes
in on stdin (`podman exec --interactive`) and costs one call; the container is mounted only when a file
is copied in or out.

A `podman exec` costs about 0.1 s of podman, conmon and runc before the module starts, most of a no-op
task's time. When the controller runs as root (rootful podman, as `make deploy ENV=local` and molecule
do here) and has nsenter, commands instead enter the container's namespaces directly with nsenter (about
0.01 s), with the container's own environment and nothing of the controller's; the container's PID and
environment come from `podman inspect` once and are cached in a root-only folder, checked against the
process's start time and cgroup before each use (a restarted container is inspected again). Otherwise,
or with SOC2KIT_PODMAN_NSENTER=0, every command goes through `podman exec`. File copies use the mounted
root file system, as in the collection.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible_collections.containers.podman.plugins.connection.podman import (
    Connection as PodmanConnection,
)

from ansible.plugins.connection import ConnectionBase

# containers.podman's DOCUMENTATION (its options), plus the pipelining option. A literal: Ansible reads
# plugin documentation without importing the module.
DOCUMENTATION = """
    author: Tomas Tomecek (@TomasTomecek)
    name: podman
    extends_documentation_fragment:
      - ansible.builtin.connection_pipelining
    short_description: Interact with an existing podman container
    description:
        - Run commands or put/fetch files to an existing container using podman tool.
    options:
      remote_addr:
        description:
          - The ID of the container you want to access.
        default: inventory_hostname
        vars:
          - name: ansible_host
          - name: inventory_hostname
          - name: ansible_podman_host
      remote_user:
        description:
            - User specified via name or UID which is used to execute commands inside the container. If you
              specify the user via UID, you must set C(ANSIBLE_REMOTE_TMP) to a path that exits
               inside the container and is writable by Ansible.
        ini:
          - section: defaults
            key: remote_user
        env:
          - name: ANSIBLE_REMOTE_USER
        vars:
          - name: ansible_user
      podman_extra_args:
        description:
          - Extra arguments to pass to the podman command line.
        default: ''
        ini:
          - section: defaults
            key: podman_extra_args
        vars:
          - name: ansible_podman_extra_args
        env:
          - name: ANSIBLE_PODMAN_EXTRA_ARGS
      podman_executable:
        description:
          - Executable for podman command.
        default: podman
        vars:
          - name: ansible_podman_executable
        env:
          - name: ANSIBLE_PODMAN_EXECUTABLE
"""


class Connection(PodmanConnection):
    """`podman exec` connection that pipelines modules through the container's stdin."""

    has_pipelining = True

    def _connect(self):
        # No `podman mount` here: most tasks copy no file, and the mount is one more podman call.
        ConnectionBase._connect(self)
        self._connected = True

    def _mount(self):
        if self._mount_point is None:
            PodmanConnection._connect(self)

    def exec_command(self, cmd, in_data=None, sudoable=False):
        target = (
            None if self.user else _namespace_target(self._container_id, self.get_option("podman_executable"))
        )
        if target is not None:
            ConnectionBase.exec_command(self, cmd, in_data=in_data, sudoable=sudoable)
            return _run_in_namespaces(target, cmd, in_data)
        if in_data is None:
            return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        exec_args = ["exec", "--interactive"]
        if self.user:
            exec_args.extend(("--user", self.user))
        return self._podman(exec_args, shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)

    def put_file(self, in_path, out_path):
        self._mount()
        super().put_file(in_path, out_path)

    def fetch_file(self, in_path, out_path):
        self._mount()
        super().fetch_file(in_path, out_path)


# Where the containers' PIDs and environments are cached (root-only: an entry says which process to enter).
_CACHE_DIR = Path.home() / ".ansible" / "soc2kit-podman-namespaces"


def _start_time(pid: int) -> str:
    # Field 22 of /proc/PID/stat, after the command name in parentheses (which may hold spaces).
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


def _still_valid(entry: dict) -> bool:
    try:
        return (
            _start_time(entry["pid"]) == entry["start"]
            and entry["id"] in Path(f"/proc/{entry['pid']}/cgroup").read_text()
        )
    except (OSError, KeyError, IndexError, TypeError):
        return False


def _namespace_target(container: str, podman_executable: str) -> dict | None:
    """The container's main process and environment, or None when nsenter cannot be used."""
    disabled = os.environ.get("SOC2KIT_PODMAN_NSENTER", "1") == "0"
    if disabled or os.geteuid() != 0 or not shutil.which("nsenter"):
        return None
    cache = _CACHE_DIR / f"{container}.json"
    try:
        entry = json.loads(cache.read_text())
        if _still_valid(entry):
            return entry
    except (OSError, ValueError):
        pass
    podman = shutil.which(podman_executable)
    if podman is None:
        return None
    inspected = subprocess.run(  # noqa: S603 - podman, and the container name of the inventory
        [podman, "inspect", "--type", "container", container],
        capture_output=True,
        text=True,
        check=False,
    )
    if inspected.returncode != 0:
        return None
    details = json.loads(inspected.stdout)[0]
    pid = details.get("State", {}).get("Pid") or 0
    if not pid:
        return None
    environment = details["Config"].get("Env") or []
    entry = {"id": details["Id"], "pid": pid, "start": _start_time(pid), "env": environment}
    _CACHE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(_CACHE_DIR, 0o700)
    with tempfile.NamedTemporaryFile("w", dir=_CACHE_DIR, delete=False) as handle:
        json.dump(entry, handle)
    os.replace(handle.name, cache)
    return entry


def _run_in_namespaces(target: dict, cmd, in_data):
    """Runs the command in all of the container's namespaces, with only the container's environment."""
    argv = [
        shutil.which("nsenter"),
        "--target",
        str(target["pid"]),
        "--all",
        "--",
        "/usr/bin/env",
        "-i",
        *target["env"],
        *shlex.split(to_native(cmd, errors="surrogate_or_strict")),
    ]
    process = subprocess.Popen(  # noqa: S603 - nsenter, then the command Ansible built for the host
        [to_bytes(arg, errors="surrogate_or_strict") for arg in argv],
        stdin=subprocess.PIPE if in_data is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd="/",
    )
    stdout, stderr = process.communicate(in_data)
    return process.returncode, stdout, stderr
