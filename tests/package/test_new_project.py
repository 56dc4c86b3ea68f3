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
    ca_bundle = tmp_path / "rds-ca.pem"
    ca_bundle.write_text("-----BEGIN CERTIFICATE-----\n(throw-away)\n-----END CERTIFICATE-----\n")
    key = "dGVzdC1rZWstMS1ub3Qtc2VjcmV0LTMyLWJ5dGVzISE="
    kept = {
        name: value
        for name, value in os.environ.items()
        if not re.match(r"DJANGO_|FIELD_ENC|DATABASE_", name)
    }
    environment = kept | {
        "PYTHONPATH": str(site),  # the installed wheel, not the source tree
        "DJANGO_SECRET_KEY": "k" + "".join(chr(ord("a") + n % 26) + str(n) for n in range(30)),
        "DJANGO_ALLOWED_HOSTS": "portal.example.test",
        "DATABASE_URL": "postgres://portal:s3cret-Not-Used-Here@db.internal.example:5432/portal",
        "DJANGO_DB_CA_BUNDLE": str(ca_bundle),
        "FIELD_ENCRYPTION_LOCAL_KEKS": '{"active": "k1", "keys": {"k1": "' + key + '"}}',
        "FIELD_ENCRYPTION_BLIND_INDEX_KEY": "dGVzdC1ibGluZC1pbmRleC1rZXktMzItYnl0ZXMhISE=",
    }
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
