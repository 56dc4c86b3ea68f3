"""check --deploy, audit-chain verification and data-key ages from the app's recorded outputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from kit.verify import app
from kit.verify.result import ERROR, FAIL, INFO, PASS, CheckError

from .conftest import FakeHosts, fixture_text

CLEAN = "System check identified no issues (0 silenced).\n"
WARNED = """System check identified some issues:

WARNINGS:
?: (security.W004) You have not set a value for the SECURE_HSTS_SECONDS setting.
?: (security.W008) Your SECURE_SSL_REDIRECT setting is not set to True.

System check identified 2 issues (0 silenced).
"""


def test_check_deploy_clean_passes(make_context):
    outcome, attachments = app.check_deploy(make_context(FakeHosts({"check --deploy": (0, CLEAN)})))
    assert outcome.status == PASS
    assert attachments[0].content == CLEAN


def test_check_deploy_warnings_fail_and_are_named():
    outcome = app.evaluate_check_deploy({"app": (1, WARNED)})
    assert outcome.status == FAIL
    assert "security.W004" in outcome.summary
    assert outcome.figures["app"]["issues"] == 2


def test_check_deploy_that_could_not_start_is_an_error():
    output = "django.core.exceptions.ImproperlyConfigured: DJANGO_SECRET_KEY is missing"
    outcome = app.evaluate_check_deploy({"app": (1, output)})
    assert outcome.status == ERROR
    assert "ImproperlyConfigured" in outcome.summary


def test_the_manage_wrapper_runs_as_the_app_with_fail_level_warning(make_context):
    hosts = FakeHosts({"check --deploy": (0, CLEAN)})
    app.check_deploy(make_context(hosts))
    assert hosts.commands == [("app", f"{app.MANAGE} check --deploy --fail-level WARNING")]


def test_app_not_deployed_is_an_error_naming_the_host(make_context):
    hosts = FakeHosts({"check": (127, "sh: 1: /usr/local/sbin/django-app-manage: not found")})
    with pytest.raises(CheckError, match="not deployed on app"):
        app.check_deploy(make_context(hosts))


def test_audit_chain_ok_and_broken(make_context):
    ok, _ = app.audit_chain(
        make_context(FakeHosts({"verify_audit_chain": (0, "audit chain OK: 42 entries verified")}))
    )
    assert ok.status == PASS
    assert ok.figures["app"]["entries_verified"] == 42
    broken = app.evaluate_audit_chain(
        {
            "app": (
                1,
                "CommandError: audit chain broken at entry id=17: MAC mismatch "
                "(16 entries before it verified)",
            )
        }
    )
    assert broken.status == FAIL
    assert "id=17" in broken.summary


def _keys(*created: str) -> list[dict]:
    return [
        {
            "version": n,
            "key_id": f"k{n}",
            "kek_backend": "local",
            "kek_id": "k1",
            "created_at": c,
            "rewrapped_at": None,
        }
        for n, c in enumerate(created, start=1)
    ]


def test_key_ages_judge_the_active_key():
    now = datetime(2026, 11, 29, tzinfo=UTC)
    fresh = app.evaluate_key_ages(_keys("2025-01-01T00:00:00+00:00", "2026-10-01T00:00:00+00:00"), 365, now)
    assert fresh.status == PASS
    assert [row["age_days"] for row in fresh.figures["data_keys"]] == [697.0, 59.0]
    overdue = app.evaluate_key_ages(_keys("2025-01-01T00:00:00+00:00"), 365, now)
    assert overdue.status == FAIL
    assert "rotate_field_keys" in overdue.summary
    assert app.evaluate_key_ages([], 365, now).status == INFO


def test_key_listing_is_parsed_from_the_shell_output(make_context):
    listing = "some warning\nKEYS-JSON " + json.dumps(_keys("2026-11-01T00:00:00+00:00")) + "\n"
    outcome, attachments = app.key_ages(make_context(FakeHosts({"shell -c": (0, listing)})))
    assert outcome.status == PASS
    assert json.loads(attachments[0].content)[0]["key_id"] == "k1"
    with pytest.raises(CheckError, match="printed no result"):
        app.parse_key_listing("Traceback ...")


def test_recorded_check_deploy_of_a_deployed_app_names_w021():
    from .conftest import fixture_text

    outcome = app.evaluate_check_deploy({"app": (1, fixture_text("check-deploy-hsts-preload-warning.txt"))})
    assert outcome.status == FAIL
    assert outcome.figures["app"]["issues"] == 1
    assert "security.W021" in outcome.summary


def test_an_empty_audit_chain_is_no_pass():
    """The recorded run of a fresh stack printed "audit chain OK: 0 entries verified": nothing was checked."""
    from .conftest import fixture_text

    outcome = app.evaluate_audit_chain({"app": (0, fixture_text("verify-audit-chain-ok.txt"))})
    assert outcome.status == ERROR
    assert outcome.summary.startswith("nothing was checked: the audit chain has 0 entries")
    assert outcome.figures["app"]["entries_verified"] == 0


def test_check_deploy_on_no_host_is_no_pass():
    outcome = app.evaluate_check_deploy({})
    assert (outcome.status, outcome.summary) == (ERROR, "nothing was checked: no app host")


def _aws_inventory(tmp_path, site_yaml: str):
    """An AWS ENV's inventory folder (ansible/inventories/prod) with the given site.yml."""
    inventory = tmp_path / "ansible" / "inventories" / "prod"
    (inventory / "group_vars" / "app_hosts").mkdir(parents=True)
    (inventory / "group_vars" / "app_hosts" / "site.yml").write_text(site_yaml)
    return inventory


W021_ONLY = fixture_text("check-deploy-hsts-preload-warning.txt")
W021_AND_W004 = W021_ONLY.replace(
    "System check identified 1 issue",
    "?: (security.W004) You have not set a value for the SECURE_HSTS_SECONDS setting.\n\n"
    "System check identified 2 issues",
)


def test_w021_passes_as_a_documented_decision_when_preload_is_declined(make_context, tmp_path):
    inventory = _aws_inventory(tmp_path, "soc2kit_hsts_preload: false\n")
    hosts = FakeHosts({"check --deploy": (1, W021_ONLY)}, names=("app-1", "app-2"))
    outcome, _ = app.check_deploy(make_context(hosts, env="prod", inventory=inventory))
    assert outcome.status == PASS
    assert "documented decision: HSTS preload declined (soc2kit_hsts_preload: false in " in outcome.summary
    assert "ansible/inventories/prod/group_vars/app_hosts/site.yml" in outcome.summary
    assert set(outcome.figures["app-2"]["accepted"]) == {"security.W021"}


@pytest.mark.parametrize(
    "site_yaml",
    [
        "soc2kit_hsts_preload: true\n",  # preload promised: W021 means the deploy did not do it
        "web_server: nginx\n",  # no decision recorded
        'soc2kit_hsts_preload: "no"\n',  # a string is not a decision
    ],
)
def test_w021_fails_unless_preload_is_explicitly_declined(make_context, tmp_path, site_yaml):
    inventory = _aws_inventory(tmp_path, site_yaml)
    hosts = FakeHosts({"check --deploy": (1, W021_ONLY)})
    outcome, _ = app.check_deploy(make_context(hosts, env="prod", inventory=inventory))
    assert outcome.status == FAIL
    assert "security.W021" in outcome.summary


def test_declining_preload_accepts_w021_only_not_other_warnings(make_context, tmp_path):
    inventory = _aws_inventory(tmp_path, "soc2kit_hsts_preload: false\n")
    hosts = FakeHosts({"check --deploy": (1, W021_AND_W004)})
    outcome, _ = app.check_deploy(make_context(hosts, env="prod", inventory=inventory))
    assert outcome.status == FAIL
    assert "2 issue(s)" in outcome.summary
    assert "security.W004" in outcome.summary


def test_local_accepts_no_warning(make_context):
    outcome, _ = app.check_deploy(make_context(FakeHosts({"check --deploy": (1, W021_ONLY)})))
    assert outcome.status == FAIL
