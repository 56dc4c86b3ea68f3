"""ENV=local: the molecule scenario is the engine; these tests check the glue with recording fakes
(the end-to-end run on real containers is `make deploy ENV=local`, measured separately)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kit import KitError, local
from kit import __main__ as cli

from .conftest import FakeBin

RECAP = """PLAY RECAP *********************************************************************
acme                       : ok=12   changed={acme}    unreachable=0    failed=0    skipped=3    rescued=0
app                        : ok=140  changed={app}    unreachable=0    failed=0    skipped=20   rescued=0
"""


@pytest.fixture
def fakes(fakebin: FakeBin, monkeypatch: pytest.MonkeyPatch) -> FakeBin:
    fakebin.add("molecule", "podman", "runc", "ansible-playbook")
    monkeypatch.setenv("PATH", f"{fakebin.directory}:/usr/bin:/bin")
    return fakebin


def test_web_server_picks_the_scenario() -> None:
    assert local.scenario_for("nginx").name == "default"
    assert local.scenario_for("apache").name == "apache"
    scenario = local.scenario_for("nginx")
    assert scenario.container("app_hosts") == "app"
    assert scenario.container("acme_servers") == "acme"


def test_missing_group_is_named() -> None:
    web_tier_only = local.Scenario(
        "web-only", Path("molecule/web-only"), [{"name": "app", "groups": ["app_hosts"]}], {}
    )
    with pytest.raises(KitError, match="no platform in group db_hosts"):
        web_tier_only.container("db_hosts")
    assert web_tier_only.find("db_hosts") is None


def test_both_scenarios_run_the_whole_site() -> None:
    for web in ("nginx", "apache"):
        scenario = local.scenario_for(web)
        for group in ("app_hosts", "acme_servers", "db_hosts", "log_collectors"):
            assert scenario.find(group), f"{scenario.name} has no {group} container"


def test_recap_changes_are_found_in_molecule_framed_colour_output() -> None:
    # As `molecule converge` prints it: a box-drawing frame and colour codes around each recap line.
    framed = (
        "  \x1b[2m\u2502\x1b[0m PLAY RECAP\n"
        "  \x1b[2m\x1b[33m\u2502\x1b[0m \x1b[33mapp                        : ok=204  changed=1    "
        "unreachable=0    failed=0\x1b[0m\n"
        "  \x1b[2m\x1b[32m\u2502\x1b[0m \x1b[32mdb                         : ok=48   changed=0    "
        "unreachable=0    failed=0\x1b[0m\n"
    )
    assert local.changes_in_recap(framed) == 1


def test_recap_changes_are_summed() -> None:
    assert local.changes_in_recap(RECAP.format(acme=0, app=0)) == 0
    assert local.changes_in_recap(RECAP.format(acme=1, app=7)) == 8


@pytest.mark.parametrize(
    ("app_changes", "expected"), [(0, "no changes (already converged)"), (4, "4 change(s) applied")]
)
def test_converge_runs_molecule_and_reports_changes(
    fakes: FakeBin,
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    app_changes: int,
    expected: str,
) -> None:
    recap = tmp_path / "recap.txt"
    recap.write_text(RECAP.format(acme=0, app=app_changes))
    monkeypatch.setenv("FAKE_MOLECULE_OUT", str(recap))
    local.converge(local.scenario_for("nginx"))
    assert fakes.calls() == ["molecule converge -s default"]
    assert f"converge: {expected}" in capsys.readouterr().err


def test_failed_converge_names_the_scenario_and_stops(
    fakes: FakeBin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MOLECULE", "2")
    with pytest.raises(KitError, match=r"molecule converge \(scenario apache\) failed"):
        local.converge(local.scenario_for("apache"))


def test_admin_password_is_generated_and_never_on_a_command_line(fakes: FakeBin) -> None:
    password = local.ensure_admin_user(local.scenario_for("nginx"))
    assert password is not None
    assert len(password) >= 20
    log = fakes.log.read_text()
    assert log.startswith("podman exec -i app /usr/local/sbin/django-app-manage shell -c import sys")
    assert log.count("podman exec") == 1
    assert password not in log


def test_existing_admin_keeps_its_password(fakes: FakeBin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_PODMAN", "3")
    assert local.ensure_admin_user(local.scenario_for("nginx")) is None


def test_missing_app_is_named_not_reported_as_a_password(
    fakes: FakeBin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_PODMAN", "127")
    with pytest.raises(KitError, match="Django app is not deployed in container app"):
        local.ensure_admin_user(local.scenario_for("nginx"))


def test_access_details_say_url_login_logs_and_teardown(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local, "LOCAL_STATE_DIR", tmp_path)
    password_file = tmp_path / "default" / "admin-password"
    password_file.parent.mkdir()
    password_file.write_text("an older password\n")
    password_file.chmod(0o644)  # a file left looser by hand is replaced, not reused

    local.print_access(local.scenario_for("nginx"), "s3cret-shown-once")
    out = capsys.readouterr().out
    assert "https://app.soc2kit.test:8443/" in out
    assert "curl --resolve app.soc2kit.test:8443:127.0.0.1 --cacert" in out
    assert "site-ca.pem" in out
    assert "127.0.0.1 app.soc2kit.test" in out
    assert "make destroy ENV=local" in out
    # The password goes to a file only its owner reads; the screen, and so any captured log, names the file.
    assert "s3cret-shown-once" not in out
    assert f"user admin, password in {password_file}" in out
    assert password_file.read_text() == "s3cret-shown-once\n"
    assert password_file.stat().st_mode & 0o777 == 0o600


def test_local_deploy_converges_and_verifies_without_destroying() -> None:
    names = [stage.name for stage in local.deploy("nginx").stages]
    assert names == [
        "set-up (Debian packages, .venv)",
        "test-host image",
        "preflight",
        "converge (molecule create + converge)",
        "verify (testinfra + HTTPS smoke test)",
        "admin user",
        "access details",
    ]


def test_destroy_local_removes_every_scenario(fakes: FakeBin) -> None:
    assert cli.main(["destroy", "local"]) == 0
    assert fakes.calls() == ["molecule destroy -s default", "molecule destroy -s apache"]


def test_rollback_local_runs_the_rollback_playbook(
    fakes: FakeBin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(local, "LOCAL_STATE_DIR", tmp_path)
    monkeypatch.setenv("RELEASE", "20261129T160000Z")
    assert cli.main(["rollback", "local"]) == 0
    (call,) = fakes.calls()
    assert call.startswith("ansible-playbook -i ")
    assert call.endswith("ansible/rollback.yml -e django_app_rollback_to=20261129T160000Z")


@pytest.mark.parametrize(("web", "app_container"), [("nginx", "app"), ("apache", "apache-app")])
def test_rollback_local_targets_the_scenarios_own_containers(
    web: str, app_container: str, fakes: FakeBin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(local, "LOCAL_STATE_DIR", tmp_path)
    monkeypatch.delenv("RELEASE", raising=False)
    assert cli.main(["rollback", "local", web]) == 0
    (call,) = fakes.calls()
    inventory = Path(call.split()[2])
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text(encoding="utf-8"))
    assert list(hosts["all"]["children"]["app_hosts"]["hosts"]) == [app_container]
    assert (inventory / "group_vars" / "app_hosts.yml").is_file()


def test_each_scenario_uses_its_own_published_ports() -> None:
    assert (local.scenario_for("nginx").https_port, local.scenario_for("nginx").http_port) == (8443, 8080)
    assert (local.scenario_for("apache").https_port, local.scenario_for("apache").http_port) == (9443, 9080)
