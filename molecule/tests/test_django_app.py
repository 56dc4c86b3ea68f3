"""Controls of the django_app role on the converged app host (testinfra, molecule verify).

One test per control: the service account, the release layout, the per-release venv, gunicorn's
socket (reachable by the web server only), its sandbox, worker count, restart on failure, the
secrets file, and the app's own readiness behind the socket.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import current_facts, database_login

ROOT = "/srv/django-app"
CURRENT = f"{ROOT}/current"
SOCKET = "/run/django-app/gunicorn.sock"
APP_USER = "django-app"
WEB_GROUP = "www-data"
MAX_EXPOSURE = 2.0


def normalize(name: str) -> str:
    """PEP 503 name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


def socket_get(host, path: str, user: str = "root") -> tuple[int, str]:
    """GET `path` over gunicorn's unix socket as `user`; (status, body), status 0 = no connection."""
    curl = (
        f"curl -sS --max-time 20 --unix-socket {SOCKET} -H 'Host: {current_facts().domain}' "
        f"-H 'X-Forwarded-Proto: https' -w '\\n%{{http_code}}' http://localhost{path}"
    )
    if user != "root":
        curl = f"setpriv --reuid={user} --regid=$(id -g {user}) --init-groups {curl}"
    result = host.run(curl)
    body, _, status = result.stdout.rpartition("\n")
    return (int(status) if status.strip().isdigit() else 0), body + result.stderr


@pytest.fixture(scope="module")
def current_release(app_host) -> str:
    link = app_host.file(CURRENT)
    assert link.is_symlink, f"{CURRENT} is not a symlink"
    return link.linked_to


def test_app_user_is_a_system_account_without_login_shell(app_host):
    user = app_host.user(APP_USER)
    assert user.exists
    assert user.shell in ("/usr/sbin/nologin", "/bin/false")
    assert user.uid < 1000
    assert user.password in ("!", "*", "!*")


def test_current_points_at_a_finished_release(app_host, current_release):
    assert current_release.startswith(f"{ROOT}/releases/")
    assert app_host.file(f"{current_release}/.release-complete").is_file
    assert app_host.file(f"{current_release}/manage.py").is_file


def test_release_name_is_timestamp_and_source_hash(current_release):
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{16}", current_release.rsplit("/", 1)[-1])


def test_release_excludes_tests_and_caches(app_host, current_release):
    found = app_host.check_output(
        f"find {current_release} -path {current_release}/venv -prune -o "
        r"\( -name tests -o -name conftest.py -o -name .env \) -print"
    )
    assert found == ""


def test_release_has_own_venv_with_the_locked_versions(app_host, current_release):
    lock = app_host.file(f"{current_release}/requirements/base.txt").content_string
    pins = {
        normalize(name): version
        for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", lock, re.M)
    }
    assert pins, "no pins found in the release's lock file"
    installed = json.loads(
        app_host.check_output(
            f"{current_release}/venv/bin/python -c "
            "'import importlib.metadata as m, json; "
            'print(json.dumps({d.metadata["Name"]: d.version for d in m.distributions()}))\''
        )
    )
    installed = {normalize(name): version for name, version in installed.items()}
    # Exactly the lock: same versions, nothing more (no pip either: a release's packages never change).
    assert installed == pins


def test_code_is_owned_by_root_and_not_writable_by_the_app(app_host, current_release):
    assert app_host.file(current_release).user == "root"
    writable = app_host.run(
        f"setpriv --reuid={APP_USER} --regid={APP_USER} --init-groups touch {current_release}/probe"
    )
    assert writable.rc != 0


def test_static_files_collected_into_the_release(app_host):
    static = app_host.file(f"{CURRENT}/static/admin/css/base.css")
    assert static.is_file
    assert static.user == "root"
    assert (
        'DJANGO_STATIC_ROOT="/srv/django-app/current/static"'
        in app_host.file("/etc/django-app/app.env").content_string
    )


def test_socket_and_service_enabled_and_running(app_host):
    for unit in ("django-app.socket", "django-app.service"):
        service = app_host.service(unit)
        assert service.is_enabled, unit
        assert service.is_running, unit


def test_gunicorn_socket_belongs_to_the_web_server_group(app_host):
    directory = app_host.file("/run/django-app")
    assert (directory.user, directory.group, directory.mode) == ("root", WEB_GROUP, 0o750)
    sock = app_host.file(SOCKET)
    assert sock.is_socket
    assert (sock.user, sock.group, sock.mode) == ("root", WEB_GROUP, 0o660)


def test_gunicorn_socket_refuses_other_users(app_host):
    status, output = socket_get(app_host, "/healthz", user="nobody")
    assert status == 0, f"user nobody reached gunicorn: {output}"


def test_web_server_group_reaches_gunicorn(app_host):
    status, body = socket_get(app_host, "/healthz", user=WEB_GROUP)
    assert status == 200, body


def test_readyz_reports_database_and_keys_ok(app_host):
    status, body = socket_get(app_host, "/readyz")
    assert status == 200, body
    assert json.loads(body)["status"] == "ok"


def test_gunicorn_workers_follow_the_core_count(app_host):
    cores = int(app_host.check_output("nproc"))
    expected = min(2 * cores + 1, 9)
    assert f"workers = {expected}\n" in app_host.file("/etc/django-app/gunicorn.conf.py").content_string
    main_pid = app_host.check_output("systemctl show -p MainPID --value django-app.service")
    workers = app_host.check_output(f"pgrep -c -P {main_pid}")
    assert int(workers) == expected


def test_service_sandbox_exposure_at_most_2(app_host):
    result = app_host.run("systemd-analyze security --no-pager --threshold=20 django-app.service")
    exposure = float(re.search(r"Overall exposure level for django-app\.service: ([\d.]+)", result.stdout)[1])
    print(f"systemd-analyze security django-app.service: {exposure}")
    assert result.rc == 0
    assert exposure <= MAX_EXPOSURE


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
        ("User", APP_USER),
        ("Restart", "on-failure"),
    ],
)
def test_service_setting(app_host, setting, value):
    shown = app_host.check_output(f"systemctl show -p {setting} --value django-app.service")
    assert sorted(shown.split()) == sorted(value.split())


def test_service_uses_the_system_service_call_filter(app_host):
    unit = app_host.file("/etc/systemd/system/django-app.service").content_string
    assert "SystemCallFilter=@system-service\n" in unit


@pytest.mark.disruptive  # kills gunicorn: requests fail for the restart window
def test_gunicorn_restarts_after_being_killed(app_host):
    before = app_host.check_output("systemctl show -p MainPID --value django-app.service")
    app_host.run_test(f"kill -KILL {before}")
    after = before
    for _ in range(60):
        after = app_host.check_output("systemctl show -p MainPID --value django-app.service")
        if after not in ("0", before) and app_host.service("django-app.service").is_running:
            break
        app_host.run("sleep 0.5")
    assert after not in ("0", before), "systemd did not restart gunicorn after SIGKILL"
    status, body = socket_get(app_host, "/readyz")
    assert status == 200, body


def test_audit_checkpoint_timer_is_scheduled(app_host):
    timer = app_host.service("django-app-audit-checkpoint.timer")
    assert timer.is_enabled
    assert timer.is_running
    unit = "django-app-audit-checkpoint.service"
    assert app_host.check_output(f"systemctl show -p User --value {unit}") == APP_USER
    result = app_host.run(f"systemd-analyze security --no-pager --threshold=20 {unit}")
    exposure = float(re.search(rf"Overall exposure level for {re.escape(unit)}: ([\d.]+)", result.stdout)[1])
    assert exposure <= MAX_EXPOSURE


@pytest.mark.disruptive  # writes a checkpoint (a new line in the checkpoint file and the logs)
def test_audit_checkpoint_run_signs_the_chain_head(app_host):
    path = "/var/lib/django-app-audit/checkpoints.jsonl"
    with app_host.sudo():
        before = app_host.run(f"wc -l < {path}").stdout.strip() or "0"
        app_host.run_test("systemctl start django-app-audit-checkpoint.service")
        folder = app_host.file(path.rsplit("/", 1)[0])
        assert folder.user == APP_USER
        assert folder.mode & 0o077 == 0, oct(folder.mode)  # the app user's alone
        lines = app_host.file(path).content_string.splitlines()
    assert len(lines) == int(before) + 1
    latest = json.loads(lines[-1])
    assert latest["entries"] >= 0
    assert len(latest["head_mac"]) == 64
    assert len(latest["signature"]) == 64, latest


def test_secrets_live_outside_the_release_and_the_plain_env_file(app_host):
    app_env = app_host.file("/etc/django-app/app.env").content_string
    for name in ("DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_LOCAL_KEKS", "FIELD_ENCRYPTION_BLIND_INDEX_KEY"):
        # A variable of that name; aws mode's DJANGO_SECRET_ARNS_<NAME> (an ARN) is no secret.
        assert not re.search(rf"^{name}=", app_env, re.MULTILINE), name
    mode = app_host.check_output(
        "sed -n 's/^DJANGO_SECRETS_BACKEND=\"\\(.*\\)\"$/\\1/p' /etc/django-app/app.env"
    )
    if mode == "env":
        secrets = app_host.file("/etc/django-app/secrets.env")
        assert (secrets.user, secrets.group, secrets.mode) == (APP_USER, APP_USER, 0o400)
        assert "DJANGO_SECRET_KEY=" in secrets.content_string
    else:
        assert mode == "aws"
        assert not app_host.file("/etc/django-app/secrets.env").exists
        assert "DJANGO_SECRET_ARNS_" in app_env


def test_manage_runs_as_the_app_user_with_the_app_environment(app_host):
    output = app_host.check_output("django-app-manage shell -c 'import os; print(\"uid\", os.getuid())'")
    assert f"uid {app_host.user(APP_USER).uid}" in output.splitlines()


def test_migrations_log_in_as_the_schema_owner_and_the_app_as_its_own_role(app_host, facts):
    assert database_login(app_host, migrate_env=True) == facts.database_owner_role
    assert database_login(app_host, migrate_env=False) == facts.database_app_role
