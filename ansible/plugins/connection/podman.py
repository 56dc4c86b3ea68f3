"""containers.podman's podman connection, with pipelining.

molecule's podman driver writes `ansible_connection: podman` into its inventories, so this plugin, found
through `connection_plugins` in ansible.cfg, takes that short name. The collection's plugin never passes
stdin to `podman exec`, so it cannot pipeline: every module then costs a `podman mount` and three
`podman exec` calls (make a temporary directory, run the module file, remove it). Here the module goes
in on stdin (`podman exec --interactive`) and costs one call; the container is mounted only when a file
is copied in or out. Commands without input and file copies run exactly as in the collection.
"""

from __future__ import annotations

import shlex

from ansible.module_utils.common.text.converters import to_native
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
