"""The soc2kit wheel: rebuilt byte for byte from packages/soc2kit, pinned by hash in the demo's requirements,
and installed by the django_app role's own pip command (hash-checked, no index)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jinja2
import pytest
import yaml
from kit import wheel

ROOT = Path(__file__).resolve().parents[2]


RELEASE_TASKS = ROOT / "roles" / "django_app" / "tasks" / "release.yml"
PIP_TASK = "Release | Locked dependencies installed (every package hash-checked, nothing unpinned)"


def test_committed_wheel_equals_a_fresh_build_and_its_pin(tmp_path: Path) -> None:
    version, pinned_hash = wheel.pinned()
    committed = wheel.WHEELS_DIR / wheel.wheel_name(version)
    rebuilt = wheel.build_wheel(tmp_path)
    assert version == wheel.package_version()
    assert wheel.sha256(rebuilt) == wheel.sha256(committed), "run `make soc2kit-wheel` and commit the wheel"
    assert wheel.sha256(committed) == pinned_hash


def test_wheel_holds_the_kit_and_its_migrations_but_no_tests(tmp_path: Path) -> None:
    names = zipfile.ZipFile(wheel.build_wheel(tmp_path)).namelist()
    for module in (
        "soc2kit/settings.py",
        "soc2kit/encryption/fields.py",
        "soc2kit/audit/migrations/0002_append_only_trigger.py",
        "soc2kit/audit/management/commands/verify_audit_chain.py",
        "soc2kit/observability/redaction.py",
        "soc2kit/accounts/client_ip.py",
        "soc2kit/health/views.py",
    ):
        assert module in names
    assert not [name for name in names if "/tests/" in name]


def test_check_names_a_stale_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "wheels"
    stale.mkdir()
    (stale / wheel.wheel_name()).write_bytes(b"not the wheel")
    monkeypatch.setattr(wheel, "WHEELS_DIR", stale)
    problems = wheel.check()
    assert any("does not match the sha256 pinned in base.txt" in problem for problem in problems)
    assert any("differs from a fresh build" in problem for problem in problems)


def _role_pip_argv(release_dir: Path) -> list[str]:
    """The argv of the role's pip task, rendered with this machine's python and `release_dir`."""
    tasks = yaml.safe_load(RELEASE_TASKS.read_text(encoding="utf-8"))
    build = next(task for task in tasks if task["name"] == "Release | Build the release")
    pip_task = next(task for task in build["block"] if task["name"] == PIP_TASK)
    variables = {
        "django_app_python": sys.executable,
        "__django_app_release_dir": str(release_dir),
        "django_app_requirements_file": "requirements/base.txt",
    }
    # An argv, not HTML: nothing to escape.
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701
    return [
        environment.from_string(str(arg)).render(variables)
        for arg in pip_task["ansible.builtin.command"]["argv"]
    ]


def test_role_pip_command_installs_the_pinned_wheel_with_hashes_and_no_index(tmp_path: Path) -> None:
    # The release as the role unpacks it, its requirements cut to the soc2kit lines: the other pins come
    # from the package index on a real host, and this test reaches no index.
    release = tmp_path / "release"
    requirements = release / "requirements"
    (requirements / "wheels").mkdir(parents=True)
    version, _ = wheel.pinned()
    name = wheel.wheel_name(version)
    (requirements / "wheels" / name).write_bytes((wheel.WHEELS_DIR / name).read_bytes())
    text = wheel.REQUIREMENTS.read_text(encoding="utf-8")
    pin = text[text.index("soc2kit==") :].split("\n")[:2]
    assert "--find-links wheels" in text.splitlines()
    (requirements / "base.txt").write_text("--find-links wheels\n" + "\n".join(pin) + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(release / "venv")], check=True)

    argv = _role_pip_argv(release)
    assert "--require-hashes" in argv
    environment = os.environ | {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(argv, env=environment, check=True, capture_output=True, text=True)
    probe = (
        "import importlib.metadata as m, soc2kit.audit.migrations as a; "
        "print(m.version('soc2kit'), a.__file__)"
    )
    python = str(release / "venv" / "bin" / "python")
    installed = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert installed.startswith(f"{version} {release}/venv/lib/")

    # A wheel that is not the pinned one is refused, into a fresh venv.
    (requirements / "wheels" / name).write_bytes(b"PK tampered")
    shutil.rmtree(release / "venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(release / "venv")], check=True)
    refused = subprocess.run(argv, env=environment, check=False, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in refused.stderr
