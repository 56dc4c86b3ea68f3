"""The tooling is one installable project (pyproject.toml): no path tricks, one `.venv` guard, ruff over
every Python file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
LOADS_BY_PATH_ON_PURPOSE = {
    # the log shipper runs on the hosts: its tests load the very file the role installs
    ROOT / "tests" / "log_shipping" / "conftest.py",
    # the project contract check also runs on the hosts (roles/django_app/files/): tests load that file
    ROOT / "tests" / "package" / "test_new_project.py",
    # the release filter runs inside Ansible (a role's filter_plugins/): its test loads that file
    ROOT / "tests" / "deploy" / "test_rollback_target.py",
    # pulumi/config.py is the Pulumi program's module, not a package; preflight validates a stack file with
    # the config.py of the pulumi/ folder it checks (the tests hand it filled-in copies)
    ROOT / "scripts" / "kit" / "preflight.py",
}


def python_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / name for name in listed]


def test_no_module_is_imported_through_sys_path_or_by_file_path() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {marker}"
        for path in python_files()
        if path not in LOADS_BY_PATH_ON_PURPOSE and path.is_file()
        for marker in ("sys.path.insert", "spec_from_file_location")
        if marker in path.read_text(encoding="utf-8") and path != Path(__file__).resolve()
    ]
    assert not offenders, "import these as packages (pyproject.toml, pytest pythonpath) instead"


def test_ruff_reads_python_files_without_a_py_name() -> None:
    scripts = [
        path
        for path in (ROOT / "roles").rglob("*")
        if path.is_file() and path.suffix == "" and path.read_bytes().startswith(b"#!/usr/bin/python")
    ]
    assert scripts, "expected at least roles/hardening/files/usr/local/sbin/audit-rules-check"
    shown = subprocess.run(
        [str(VENV_BIN / "ruff"), "check", "--show-files", "."], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert [str(path) for path in scripts if str(path) not in shown] == []


GUARDED = [
    ("scripts/test-kit.sh", [], "test-kit", "pytest"),
    ("scripts/test-app.sh", [], "test-app", "python"),
    ("scripts/test-pulumi.sh", [], "test-pulumi", "python"),
    ("scripts/lint.sh", [], "lint", "ruff"),
    ("scripts/bench.sh", [], "bench", "python"),
    ("scripts/verify.sh", ["dev"], "verify", "soc2kit-verify"),
    ("scripts/loadtest.sh", ["local"], "loadtest", "locust"),
    ("scripts/faulttest.sh", ["local", "nginx"], "faulttest", "python"),
    ("scripts/molecule.sh", [], "molecule.sh", "molecule"),
    ("scripts/test-stacks.sh", [], "test-stacks", "pytest"),
    ("scripts/rehearsal-test.sh", [], "rehearsal-test", "ansible-playbook"),
    ("scripts/kit.sh", ["plan", "dev"], "kit", "soc2kit"),
    ("ansible/inventories/pulumi_inventory", ["--list"], "pulumi_inventory", "soc2kit-inventory"),
]


@pytest.mark.parametrize(("script", "args", "caller", "tool"), GUARDED)
def test_every_script_refuses_a_missing_venv_the_same_way(
    tmp_path: Path, script: str, args: list[str], caller: str, tool: str
) -> None:
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "scripts", checkout / "scripts", ignore=shutil.ignore_patterns("kit"))
    shutil.copytree(ROOT / "ansible" / "inventories", checkout / "ansible" / "inventories", symlinks=True)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [str(checkout / script), *args], cwd=checkout, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"{caller}: ERROR: {checkout}/.venv/bin/{tool} is missing (.venv absent or out of date); "
        "run 'make setup'\n"
    )
    assert not (checkout / ".venv").exists()


def test_the_venv_guard_is_written_once() -> None:
    # bootstrap.sh is the one that creates .venv.
    copies = [
        path.name
        for path in (ROOT / "scripts").glob("*.sh")
        if path.name not in ("require-venv.sh", "bootstrap.sh")
        and ".venv/bin" in path.read_text(encoding="utf-8")
    ]
    assert copies == [], "source scripts/require-venv.sh and call require_venv instead"
    assert os.access(ROOT / "ansible" / "inventories" / "pulumi_inventory", os.X_OK)
