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


def test_a_run_where_only_some_packages_could_not_be_audited_is_an_error():
    partly = _audit(
        {"name": "django", "version": "5.2.19", "vulns": []},
        {"name": "asgiref", "version": "3.13.0", "vulns": []},
        {"name": "sqlparse", "skip_reason": "Dependency not found on PyPI and could not be audited"},
    )
    outcome = deps.evaluate_pip_audit(partly, {})
    assert outcome.status == ERROR
    assert (outcome.figures["packages"], outcome.figures["audited"]) == (3, 2)
    assert "1 of 3 packages could not be audited (e.g. sqlparse)" in outcome.summary


def test_a_locked_package_missing_from_the_report_counts_as_not_audited():
    clean_but_short = _audit(
        {"name": "Django", "version": "5.2.19", "vulns": []},
        {"name": "asgiref", "version": "3.13.0", "vulns": []},
    )
    outcome = deps.evaluate_pip_audit(clean_but_short, {}, deps.locked_packages(LOCK))
    assert outcome.status == ERROR
    assert outcome.figures["not_audited"] == ["sqlparse (locked but missing from pip-audit's report)"]


def test_a_vulnerability_fails_and_the_summary_still_names_unaudited_packages():
    both = _audit(
        {"name": "django", "version": "5.2.1", "vulns": [{"id": "PYSEC-2025-1", "fix_versions": []}]},
        {"name": "asgiref", "skip_reason": "Dependency not found on PyPI and could not be audited"},
    )
    outcome = deps.evaluate_pip_audit(both, {})
    assert outcome.status == FAIL
    assert "1 of 2 packages could not be audited (e.g. asgiref)" in outcome.summary


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
    clean = _audit(
        {"name": "django", "version": "5.2.19", "vulns": []},
        {"name": "asgiref", "version": "3.13.0", "vulns": []},
        {"name": "sqlparse", "version": "0.5.3", "vulns": []},
    )
    assert deps.evaluate_pip_audit(clean, {}, deps.locked_packages(LOCK)).status == PASS
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
