"""What every check gets: the ENV, the public site, the hosts, the thresholds and a scratch folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .hosts import Completed
from .thresholds import Thresholds


class Hosts(Protocol):
    names: list[str]

    def run(self, host: str, script: str, *, stdin: str | None = None) -> Completed: ...


@dataclass(frozen=True)
class Site:
    """The public name, where to connect for it, and the CA its certificate chains to (None = system)."""

    name: str
    https_port: int = 443
    http_port: int = 80
    connect_address: str | None = None
    ca_file: Path | None = None

    @property
    def display(self) -> str:
        via = f" via {self.connect_address}" if self.connect_address else ""
        return f"https://{self.name}:{self.https_port}/{via}"


@dataclass
class Context:
    env: str
    web: str
    site: Site
    hosts: Hosts
    thresholds: Thresholds
    scratch: Path
    # ENV=local and the rehearsal: an app container whose network namespace has the site on 127.0.0.1:80/443
    # (the Observatory scans 80/443 by name only, and no name of theirs may be looked up outside).
    local_app_container: str | None = None
    # AWS: the ENV's Ansible inventory folder and the recorded stack outputs.
    inventory: Path | None = None
    stack_outputs: dict[str, object] = field(default_factory=dict)
    environ: dict[str, str] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return self.env == "local"
