"""`make new-project` gives a project that meets the kit's contract, and the contract check (the role's
preflight, roles/django_app/files/project_contract.py) names what a broken project is missing."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from kit import KitError, new_project, wheel

ROOT = Path(__file__).resolve().parents[2]


CONTRACT_SCRIPT = ROOT / "roles" / "django_app" / "files" / "project_contract.py"
DEFAULTS = yaml.safe_load(
    (ROOT / "roles" / "django_app" / "defaults" / "main.yml").read_text(encoding="utf-8")
)


def _contract() -> ModuleType:
    spec = importlib.util.spec_from_file_location("project_contract", CONTRACT_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


contract = _contract()


def check(project: Path, **overrides: str) -> list[str]:
    """The contract check with the role's defaults (what the preflight passes it), unless overridden."""
    arguments = {
        "settings": DEFAULTS["django_app_settings_module"],
        "wsgi": DEFAULTS["django_app_wsgi_module"],
        "requirements": DEFAULTS["django_app_requirements_file"],
        "health_path": DEFAULTS["django_app_health_path"],
    } | overrides
    return contract.problems(project, **arguments)


QUICK_START_README = ROOT / "packages" / "soc2kit" / "README.md"
KIT_VARIABLE = re.compile(r"DJANGO_|FIELD_ENC|DATABASE_")  # what the project reads


def quick_start_environment(tmp_path: Path) -> dict[str, str]:
    """The variables that the README's quick start exports, made by running its own `export` lines.

    The test then checks what a new user would type, not a second copy of it: a placeholder that the
    fail-closed checks refuse (PASSWORD in DATABASE_URL) fails here as it would for them."""
    readme = QUICK_START_README.read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", quick_start, re.S)
    assert block, f"{QUICK_START_README}: no sh block under 'Quick start'"
    exports = [line for line in block.group(1).splitlines() if line.startswith("export ")]
    assert exports, f"{QUICK_START_README}: the quick start exports nothing"
    shim = tmp_path / "bin"  # `python` in the README is the virtual environment's
    shim.mkdir()
    (shim / "python").symlink_to(sys.executable)
    printed = subprocess.run(
        ["bash", "-euc", "\n".join([*exports, "env -0"])],
        env={"PATH": f"{shim}:/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    variables = dict(entry.split("=", 1) for entry in printed.split("\0") if "=" in entry)
    return {name: value for name, value in variables.items() if KIT_VARIABLE.match(name)}


@pytest.fixture(scope="module")
def starter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_project.new_project("acme_portal", tmp_path_factory.mktemp("projects"))


def test_starter_meets_the_contract(starter: Path) -> None:
    assert check(starter) == []
    assert (starter / "requirements" / "wheels" / wheel.wheel_name()).is_file()


def test_demo_project_meets_the_contract() -> None:
    assert check(ROOT / "app") == []


def test_contract_script_exit_status_and_message(starter: Path, tmp_path: Path) -> None:
    good = subprocess.run(
        [sys.executable, str(CONTRACT_SCRIPT), str(starter)], capture_output=True, text=True
    )
    assert good.returncode == 0, good.stdout
    bad = subprocess.run(
        [sys.executable, str(CONTRACT_SCRIPT), str(tmp_path)], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert "missing: manage.py at the top of the project" in bad.stdout


def _copy(starter: Path, target: Path) -> Path:
    subprocess.run(["cp", "-a", str(starter), str(target)], check=True)
    return target


def test_broken_project_is_named_item_by_item(starter: Path, tmp_path: Path) -> None:
    broken = _copy(starter, tmp_path / "broken")
    (broken / "config" / "wsgi.py").write_text("# no application here\n", encoding="utf-8")
    urls = broken / "config" / "urls.py"
    urls.write_text(urls.read_text(encoding="utf-8").replace('include("soc2kit.health.urls")', "[]"))
    base = broken / "config" / "settings" / "base.py"
    base.write_text(base.read_text(encoding="utf-8").replace("*KIT_APPS,", ""), encoding="utf-8")
    lock = broken / "requirements" / "base.txt"
    lock.write_text(lock.read_text(encoding="utf-8") + "requests>=2\n", encoding="utf-8")

    problems = "\n".join(check(broken))
    assert "'application' defined in WSGI module config.wsgi" in problems
    assert "a URL route for /readyz" in problems
    assert "soc2kit's apps in INSTALLED_APPS of config.settings.production" in problems
    assert "an exact pin with --hash=sha256 for 'requests'" in problems
    assert len(check(broken)) == 4


def test_inventory_choices_are_what_is_checked(starter: Path) -> None:
    assert check(starter, settings="mysite.settings") == [
        "settings module mysite.settings (a file mysite/settings.py in the project)"
    ]
    assert check(starter, wsgi="mysite.wsgi:app") == [
        "WSGI module mysite.wsgi (a file mysite/wsgi.py in the project)"
    ]
    assert check(starter, requirements="requirements/prod.txt") == [
        "requirements file requirements/prod.txt (the hash-pinned lock the release installs)"
    ]
    assert check(starter, health_path="/ready") == [
        'a URL route for /ready in the project\'s urls.py (path("", include("soc2kit.health.urls")) adds '
        "/healthz and /readyz)"
    ]


def test_bad_names_and_existing_folders_are_refused(starter: Path) -> None:
    with pytest.raises(KitError, match="'my-project' is not a valid project name"):
        new_project.new_project("my-project", starter.parent)
    with pytest.raises(KitError, match="already exists"):
        new_project.new_project(starter.name, starter.parent)


def test_starter_passes_check_deploy_with_the_wheel_installed(starter: Path, tmp_path: Path) -> None:
    """The quick start: pip install the wheel, then `check --deploy` in the production environment."""
    site = tmp_path / "site-packages"
    built = starter / "requirements" / "wheels" / wheel.wheel_name()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--target",
            str(site),
            str(built),
        ],
        check=True,
        env=os.environ | {"PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    kept = {name: value for name, value in os.environ.items() if not KIT_VARIABLE.match(name)}
    environment = kept | quick_start_environment(tmp_path) | {"PYTHONPATH": str(site)}  # the wheel, not src/
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=starter,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout

    # Fails closed: without its blind-index key the project refuses to start, naming the variable.
    del environment["FIELD_ENCRYPTION_BLIND_INDEX_KEY"]
    refused = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=starter, env=environment, capture_output=True, text=True
    )
    assert refused.returncode != 0
    assert "FIELD_ENCRYPTION_BLIND_INDEX_KEY" in refused.stderr
