"""Bring your own project (issue #15): a project made by `make new-project`, with a model of its own that
holds an encrypted field, deployed by the same roles (ansible/deploy-app.yml) to this scenario's app host,
behind the scenario's web server, with its certificate and database. It must pass what the demo passes:
the HTTPS smoke test that `make deploy` runs, /readyz, and `verify_audit_chain` (make verify's check) with an
entry the project wrote itself; its encrypted values are ciphertext in the database.

It replaces the deployed project, so it runs after every other test of the scenario (runs_last), and the
demo's release is switched back at the end with ansible/rollback.yml (checked).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import MANAGE, scenario_playbook
from kit import new_project, wheel
from kit.smoke import smoke_test
from kit.verify.app import evaluate_audit_chain
from kit.verify.result import PASS

pytestmark = [pytest.mark.disruptive, pytest.mark.runs_last, pytest.mark.groups("app_hosts")]

CURRENT = "/srv/django-app/current"
PROJECT = "own_site"

# The project's own app: what a team adds to the starter (docs/own-project.md, packages/soc2kit/README.md).
NOTES_MODELS = '''"""A note whose body is encrypted and bound to its row."""

from django.db import models
from soc2kit.encryption.fields import EncryptedTextField, RowIdentityField
from soc2kit.encryption.query import EncryptedManager


class Note(models.Model):
    row_uuid = RowIdentityField()
    body = EncryptedTextField()
    objects = EncryptedManager()

    class Meta:
        base_manager_name = "objects"
'''

# Run on the host by `manage.py shell -c` as the app's service user: write a note (the value arrives on
# stdin), audit the write, read the stored column raw and the note back through the model.
WRITE_AND_READ = """
import json, sys
from django.db import connection
from notes.models import Note
from soc2kit.audit.models import Action, Outcome
from soc2kit.audit.recorder import record
body = sys.stdin.read().strip()
note = Note.objects.create(body=body)
record(None, Action.CREATE, Outcome.SUCCESS, instance=note, changed_fields=["body"])
with connection.cursor() as cursor:
    cursor.execute("SELECT body FROM notes_note WHERE id = %s", [note.pk])
    stored = cursor.fetchone()[0]
print("RESULT " + json.dumps({"stored": stored, "read_back": Note.objects.get(pk=note.pk).body}))
"""


def _make_migrations(project: Path) -> None:
    """`manage.py makemigrations notes` on the controller, with the project's own soc2kit wheel on the path
    (a wheel of pure Python imports as a zip) and throw-away keys: no database is touched."""
    throw_away_kek = "dGVzdC1rZWstMS1ub3Qtc2VjcmV0LTMyLWJ5dGVzISE="
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "FIELD_ENCRYPTION_", "DATABASE_"))
    } | {
        "PYTHONPATH": str(project / "requirements" / "wheels" / wheel.wheel_name()),
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DJANGO_SECRET_KEY": "makemigrations-only-" + uuid.uuid4().hex,
        "FIELD_ENCRYPTION_LOCAL_KEKS": json.dumps({"active": "k1", "keys": {"k1": throw_away_kek}}),
        "FIELD_ENCRYPTION_BLIND_INDEX_KEY": "dGVzdC1ibGluZC1pbmRleC1rZXktMzItYnl0ZXMhISE=",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "notes"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (project / "notes" / "migrations" / "0001_initial.py").is_file(), done.stdout


@pytest.fixture(scope="module")
def own_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The starter with one app added, as a team would: a model, its migration, the app installed."""
    project = new_project.new_project(PROJECT, tmp_path_factory.mktemp("own-project"))
    notes = project / "notes"
    (notes / "migrations").mkdir(parents=True)
    (notes / "__init__.py").write_text("", encoding="utf-8")
    (notes / "migrations" / "__init__.py").write_text("", encoding="utf-8")
    (notes / "models.py").write_text(NOTES_MODELS, encoding="utf-8")
    base = project / "config" / "settings" / "base.py"
    settings = base.read_text(encoding="utf-8")
    placeholder = "    # Your apps here.\n"
    assert placeholder in settings, "the starter's INSTALLED_APPS has no place for the project's apps"
    base.write_text(settings.replace(placeholder, '    "notes",\n'), encoding="utf-8")
    _make_migrations(project)
    return project


def _current_release(app_host) -> str:
    return app_host.check_output(f"readlink -f {CURRENT}")


def _audit_chain(app_host) -> tuple[int, str]:
    done = app_host.run(f"{MANAGE} verify_audit_chain")
    return done.rc, done.stdout + done.stderr


@pytest.fixture(scope="module")
def deployed(own_project: Path, app_host):
    """The project deployed with deploy-app.yml; afterwards rollback.yml puts the demo's release back."""
    demo_release = _current_release(app_host)
    chain_before = evaluate_audit_chain({"app": _audit_chain(app_host)})
    result = scenario_playbook("deploy-app.yml", django_app_source_dir=str(own_project))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    own_release = _current_release(app_host)
    yield {"demo_release": demo_release, "chain_before": chain_before, "deploy": result}
    back = scenario_playbook("rollback.yml")
    assert back.returncode == 0, back.stdout[-4000:] + back.stderr[-2000:]
    # Also when this module ran before on the same stack: a rollback never returns to a release it left.
    assert _current_release(app_host) == demo_release, "rollback.yml did not put the demo's release back"
    assert app_host.file(f"{own_release}/.release-rolled-back").exists


def test_the_roles_deploy_the_own_project(deployed, app_host, own_project: Path) -> None:
    release = _current_release(app_host)
    assert release != deployed["demo_release"]
    # The release is the generated project: its settings name it, and its own app is in it.
    assert f"Settings of {PROJECT}" in app_host.file(f"{release}/config/settings/base.py").content_string
    assert app_host.file(f"{release}/notes/migrations/0001_initial.py").is_file
    # Its soc2kit is the wheel it pins, installed with hashes into the release's own environment.
    installed = app_host.run(f"{release}/venv/bin/python -c 'import soc2kit; print(soc2kit.__file__)'")
    assert installed.rc == 0, installed.stderr
    assert installed.stdout.startswith(f"{release}/venv/lib/"), installed.stdout
    assert app_host.service("django-app").is_running


def test_the_own_project_passes_the_https_smoke_test(deployed, site) -> None:
    # What `make deploy` runs after its checks: certificate for the public name, /readyz 200 with HSTS over
    # HTTPS, and plain HTTP redirected (kit/smoke.py raises, naming what does not hold).
    smoke_test(
        site.domain,
        site.https_port,
        http_port=site.http_port,
        cafile=str(site.acme_root) if site.acme_root else None,
        connect_to=site.address,
    )
    response, body = site.https("GET", "/readyz")
    assert response.status == 200, body[:500]
    # It is the own project that answers: the demo redirects / to its login page, the starter has no view.
    response, body = site.https("GET", "/")
    assert response.status == 404, (response.status, body[:300])


@pytest.fixture(scope="module")
def written_note(deployed, app_host) -> dict[str, str]:
    """A note written on the host through the project's model, with its audit entry."""
    canary = f"own project note {uuid.uuid4().hex}"
    script = shlex.quote(WRITE_AND_READ)
    done = app_host.run(f"printf '%s' {shlex.quote(canary)} | {MANAGE} shell -c {script}")
    assert done.rc == 0, done.stdout[-2000:] + done.stderr[-2000:]
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, done.stdout[-2000:]
    return {"canary": canary, **json.loads(line.removeprefix("RESULT "))}


def test_the_own_model_stores_ciphertext_and_reads_it_back(written_note) -> None:
    assert written_note["read_back"] == written_note["canary"]
    stored = written_note["stored"]
    assert stored.startswith("ef2:"), stored[:40]  # encrypted and bound to its row
    assert written_note["canary"] not in stored
    assert "own project note" not in stored


def test_the_audit_chain_verifies_with_the_own_projects_entry(deployed, written_note, app_host) -> None:
    # make verify's check, on the own project's release, after the entry the project wrote.
    outcome = evaluate_audit_chain({"app": _audit_chain(app_host)})
    assert outcome.status == PASS, outcome.summary
    before = deployed["chain_before"].figures.get("app", {}).get("entries_verified", 0)
    assert outcome.figures["app"]["entries_verified"] > before, (outcome.figures, before)
