"""pip-audit verdicts (a package that was not audited is never clean) and the newer-releases list."""

from __future__ import annotations

import json

from kit.verify import deps
from kit.verify.result import ERROR, FAIL, INFO, PASS

from .conftest import fixture_text

LOCK = """--extra-index-url file:///opt/pypi/simple
django==5.2.19 \\
    --hash=sha256:aaaa
    # via -r base.in
asgiref==3.13.0 \\
    --hash=sha256:bbbb
sqlparse==0.5.3 ; python_version >= "3.8" \\
    --hash=sha256:cccc
"""


def _audit(*deps_: dict) -> str:
    return json.dumps({"dependencies": list(deps_), "fixes": []})


def test_recorded_run_where_nothing_could_be_audited_is_an_error():
    outcome = deps.evaluate_pip_audit(fixture_text("pip-audit-unaudited.json"), {})
    assert outcome.status == ERROR
    assert outcome.figures["audited"] == 0
    assert "could not be audited" in outcome.summary


def test_a_known_vulnerability_fails_and_an_ignored_one_does_not():
    vulnerable = _audit(
        {
            "name": "django",
            "version": "5.2.1",
            "vulns": [
                {
                    "id": "PYSEC-2025-1",
                    "aliases": ["CVE-2025-0001"],
                    "fix_versions": ["5.2.2"],
                    "description": "",
                }
            ],
        },
        {"name": "asgiref", "version": "3.13.0", "vulns": []},
    )
    failed = deps.evaluate_pip_audit(vulnerable, {})
    assert failed.status == FAIL
    assert "django 5.2.1: PYSEC-2025-1 (fixed in 5.2.2)" in failed.summary
    accepted = deps.evaluate_pip_audit(
        vulnerable, {"CVE-2025-0001": "not reachable in our use; review 2027-01"}
    )
    assert accepted.status == PASS
    assert accepted.figures["ignored_by_thresholds"]


def test_all_audited_and_clean_passes():
    clean = _audit({"name": "django", "version": "5.2.19", "vulns": []})
    assert deps.evaluate_pip_audit(clean, {}).status == PASS
    assert deps.evaluate_pip_audit("not json", {}).status == ERROR


def test_locked_packages_read_from_a_hashed_lock():
    assert deps.locked_packages(LOCK) == {"django": "5.2.19", "asgiref": "3.13.0", "sqlparse": "0.5.3"}


def test_outdated_lists_newer_releases_and_is_informational(make_context, tmp_path):
    lock = tmp_path / "base.txt"
    lock.write_text(LOCK)
    latest = {"django": "6.1.3", "asgiref": "3.13.0"}

    def fetch(name: str) -> str:
        if name not in latest:
            raise OSError("404")
        return latest[name]

    outcome, attachments = deps.outdated(make_context(), lock, fetch)
    assert outcome.status == INFO
    assert outcome.figures["newer_releases"] == {"django": "5.2.19 -> 6.1.3"}
    assert outcome.figures["not_looked_up"] == ["sqlparse"]
    assert json.loads(attachments[0].content)["errors"] == ["sqlparse: 404"]
