"""The one way to run the testinfra suite (molecule/tests) against a live deployment.

`make deploy` (every ENV) and `make verify` check a running deployment with the same suite the molecule
scenarios run, and they build the command here only. A live check never changes what it checks: the tests
marked `disruptive` (they deploy releases, add probe accounts, stop the log collector, kill gunicorn) are
always left out. The suite reads the site's name, web server, database mode and ACME server from the
inventory it is given (molecule/tests/site_facts.py).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from . import MOLECULE_DIR, KitError

TESTINFRA_DIR = MOLECULE_DIR / "tests"
# pytest's marker expression of a live check; nothing a caller passes can drop it.
NOT_DISRUPTIVE = "not disruptive"


@dataclass(frozen=True)
class LiveCheck:
    """The command to run and the environment it needs on top of the caller's."""

    command: list[str]
    env: dict[str, str]


def live_check(
    *, inventory: Path | None = None, scenario: str | None = None, junit: Path | None = None
) -> LiveCheck:
    """The testinfra run against the hosts of an Ansible `inventory` (rehearsal, AWS), or through
    `molecule verify` of a running molecule `scenario` (ENV=local: molecule knows its own inventory)."""
    if (inventory is None) == (scenario is None):
        raise KitError("a live check needs exactly one of an inventory or a molecule scenario")
    options = ["-p", "no:cacheprovider", "-m", NOT_DISRUPTIVE]
    if junit is not None:
        options.append(f"--junitxml={junit}")
    if scenario is not None:
        # molecule runs pytest itself; PYTEST_ADDOPTS is how options reach it.
        return LiveCheck(["molecule", "verify", "-s", scenario], {"PYTEST_ADDOPTS": shlex.join(options)})
    if not TESTINFRA_DIR.is_dir():
        raise KitError(
            f"{TESTINFRA_DIR} does not exist (the testinfra suite shared with molecule)",
            "restore molecule/tests/",
        )
    command = [
        "pytest",
        str(TESTINFRA_DIR),
        "--hosts=ansible://app_hosts",
        f"--ansible-inventory={inventory}",
        *options,
    ]
    # A PYTEST_ADDOPTS of the caller's shell could add `-m disruptive` or other tests; it is not used.
    return LiveCheck(command, {"PYTEST_ADDOPTS": ""})
