"""Release lifecycle of the django_app role, driven through ansible-playbook against the scenario.

- A deploy of a new release under load drops no request (the load runs inside the app container
  against gunicorn's unix socket: local traffic only, bounded in requests and seconds).
- A release failing /readyz is refused: current stays, the old release keeps serving, and the play
  shows the app's own answer.
- ansible/rollback.yml goes back to the previous release, or a named one, deleting nothing.
- Bad input fails before any change.

The tests run in file order and share the host: they end with the host back on the release the
converge deployed.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from conftest import current_facts, scenario_playbook

# Changes the deployment or interrupts a service while it runs (see conftest.py).
pytestmark = pytest.mark.disruptive

ROOT = Path(__file__).resolve().parents[2]
RELEASES = "/srv/django-app/releases"
CURRENT = "/srv/django-app/current"
SOCKET = "/run/django-app/gunicorn.sock"
LOAD_UNIT = "soc2kit-lifecycle-load"
# Bounds of the load generator: it stops at whichever comes first.
LOAD_MAX_SECONDS = 600
LOAD_MAX_REQUESTS = 200_000
LOAD_THREADS = 4
PLAYBOOK_TIMEOUT = 900


# Runs inside the app container (python3 from Debian, stdlib only): LOAD_THREADS loops of
# GET /healthz over gunicorn's unix socket until the stop file appears or a bound is reached.
LOAD_GENERATOR = r"""
import json, os, socket, sys, threading, time
sock_path, host, stop_file, out, max_seconds, max_requests, threads = sys.argv[1:8]
max_seconds, max_requests, threads = float(max_seconds), int(max_requests), int(threads)
request = (f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Forwarded-Proto: https\r\n"
           "Connection: close\r\n\r\n").encode()
lock = threading.Lock()
stats = {"ok": 0, "failed": 0, "errors": {}, "ok_times": [], "max_latency": 0.0}
start = time.monotonic()

def done():
    return (os.path.exists(stop_file) or time.monotonic() - start > max_seconds
            or stats["ok"] + stats["failed"] >= max_requests)

def one():
    t0 = time.monotonic()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(60)
            s.connect(sock_path)
            s.sendall(request)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "no-response"
        error = None if status == "200" else f"http-{status}"
    except OSError as exc:
        error = type(exc).__name__
    t1 = time.monotonic()
    with lock:
        stats["max_latency"] = max(stats["max_latency"], t1 - t0)
        if error is None:
            stats["ok"] += 1
            stats["ok_times"].append(round(t1, 3))
        else:
            stats["failed"] += 1
            stats["errors"][error] = stats["errors"].get(error, 0) + 1

def loop():
    while not done():
        one()
        time.sleep(0.01)

workers = [threading.Thread(target=loop) for _ in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
stats["seconds"] = round(time.monotonic() - start, 1)
with open(out + ".tmp", "w") as f:
    json.dump(stats, f)
os.rename(out + ".tmp", out)
"""


def playbook(name: str, **extra) -> subprocess.CompletedProcess:
    return scenario_playbook(name, timeout=PLAYBOOK_TIMEOUT, **extra)


def source_copy(tmp_path: Path, marker: str, broken_readyz: bool = False) -> Path:
    """A copy of app/ with a marker file (a new source hash, so a new release) and optionally a
    /readyz that reports a failing dependency."""
    source = tmp_path / "app"
    shutil.copytree(
        ROOT / "app", source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".env")
    )
    (source / "RELEASE_MARKER").write_text(marker + "\n")
    if broken_readyz:
        with (source / "config/urls.py").open("a") as urls:
            urls.write(
                "\n\n# Broken on purpose by molecule/tests/test_release_lifecycle.py.\n"
                "from django.http import JsonResponse as _JsonResponse  # noqa: E402\n"
                "from django.urls import path as _path  # noqa: E402\n\n"
                "urlpatterns.insert(0, _path('readyz', lambda request: _JsonResponse("
                "{'status': 'unavailable', 'failing': ['lifecycle_test_broken_release']}, status=503)))\n"
            )
    return source


def current(host) -> str:
    return host.check_output(f"readlink {CURRENT}").rsplit("/", 1)[-1]


def releases(host) -> list[str]:
    return sorted(host.check_output(f"ls -1 {RELEASES}").split())


def main_pid(host) -> str:
    return host.check_output("systemctl show -p MainPID --value django-app.service")


def readyz_status(host) -> str:
    return host.check_output(
        f"curl -sS -o /dev/null -w '%{{http_code}}' --max-time 20 --unix-socket {SOCKET} "
        f"-H 'Host: {current_facts().domain}' -H 'X-Forwarded-Proto: https' http://localhost/readyz"
    )


def host_fingerprint(host) -> str:
    """What a deploy changes: the current link, the releases, the app's configuration and units."""
    return host.check_output(
        f"readlink {CURRENT}; ls -1 {RELEASES}; "
        "sha256sum /etc/django-app/* /etc/systemd/system/django-app* 2>/dev/null; "
        "systemctl show -p MainPID --value django-app.service"
    )


@pytest.fixture(scope="module")
def converged_release(app_host):
    """The release the converge deployed; the host is switched back to it at the end."""
    release = current(app_host)
    yield release
    if current(app_host) != release:
        result = playbook("rollback.yml", django_app_rollback_to=release)
        assert result.returncode == 0, result.stdout[-4000:]


@pytest.fixture(scope="module")
def state():
    return {}


@contextlib.contextmanager
def load_on_the_socket(app_host):
    """Steady GET /healthz load over gunicorn's socket from inside the app host while the block runs
    (from 3 s before to 3 s after it); the yielded dict holds the load's figures afterwards."""
    stop_file, result_file = "/run/soc2kit-load.stop", "/run/soc2kit-load.json"
    app_host.run(f"systemctl stop {LOAD_UNIT}; rm -f {stop_file} {result_file} /run/soc2kit-load.py")
    app_host.run_test(f"cat > /run/soc2kit-load.py <<'EOF'\n{LOAD_GENERATOR}\nEOF")
    app_host.run_test(
        f"systemd-run --unit={LOAD_UNIT} --collect /usr/bin/python3 /run/soc2kit-load.py {SOCKET} "
        f"{current_facts().domain} {stop_file} {result_file} "
        f"{LOAD_MAX_SECONDS} {LOAD_MAX_REQUESTS} {LOAD_THREADS}"
    )
    figures: dict = {}
    try:
        time.sleep(3)  # requests in flight before the block starts
        yield figures
        time.sleep(3)  # and after it ends
    finally:
        app_host.run(f"touch {stop_file}")
        for _ in range(120):
            if app_host.file(result_file).exists:
                break
            time.sleep(0.5)
    figures.update(json.loads(app_host.file(result_file).content_string))


def test_deploy_under_load_drops_no_request(app_host, converged_release, state, tmp_path):
    marker = f"lifecycle-{uuid.uuid4().hex}"
    source = source_copy(tmp_path, marker)
    pid_before = main_pid(app_host)
    with load_on_the_socket(app_host) as load:
        started = time.monotonic()
        result = playbook("deploy-app.yml", django_app_source_dir=str(source))
        deploy_seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-4000:]
    new_start = (
        float(
            app_host.check_output(
                "systemctl show -p ExecMainStartTimestampMonotonic --value django-app.service"
            )
        )
        / 1e6
    )
    ok_times = load.pop("ok_times")
    print(
        f"deploy under load: {deploy_seconds:.0f} s, {load['ok']} ok, {load['failed']} failed "
        f"{load['errors']}, max latency {load['max_latency']:.2f} s, load ran {load['seconds']} s"
    )
    assert load["failed"] == 0, f"requests dropped during the deploy: {load['errors']}"
    assert load["ok"] > 100
    # The load spanned the restart: answers from the old gunicorn and from the new one.
    assert any(t < new_start for t in ok_times), "no answer before the new gunicorn started"
    assert any(t > new_start for t in ok_times), "no answer after the new gunicorn started"
    assert main_pid(app_host) != pid_before
    assert app_host.file(f"{CURRENT}/RELEASE_MARKER").content_string.strip() == marker
    assert current(app_host) != converged_release
    assert readyz_status(app_host) == "200"
    state["deployed"] = current(app_host)


def test_broken_release_is_refused_and_the_old_one_keeps_serving(app_host, state, tmp_path):
    before = current(app_host)
    pid_before = main_pid(app_host)
    source = source_copy(tmp_path, f"broken-{uuid.uuid4().hex}", broken_readyz=True)
    with load_on_the_socket(app_host) as load:
        result = playbook("deploy-app.yml", django_app_source_dir=str(source))
    refusal = result.stdout.find("failed its /readyz check")
    print(result.stdout[max(refusal - 80, 0) : refusal + 400] if refusal >= 0 else result.stdout[-3000:])
    assert result.returncode != 0, "a release failing /readyz was deployed"
    assert "lifecycle_test_broken_release" in result.stdout, "the play did not show the app's own answer"
    assert "current is unchanged" in result.stdout
    assert current(app_host) == before
    assert main_pid(app_host) == pid_before, "the serving gunicorn was restarted"
    # The old release kept answering while the broken one was tried: not one request failed.
    print(f"refused deploy under load: {load['ok']} ok, {load['failed']} failed {load['errors']}")
    assert load["failed"] == 0, f"requests failed during the refused deploy: {load['errors']}"
    assert load["ok"] > 100
    assert readyz_status(app_host) == "200"
    assert not app_host.service(f"django-app-candidate@{before}.service").is_running


def test_rollback_goes_back_to_the_previous_release_and_deletes_nothing(app_host, converged_release, state):
    assert current(app_host) == state["deployed"]
    kept = releases(app_host)
    result = playbook("rollback.yml")
    assert result.returncode == 0, result.stdout[-4000:]
    assert current(app_host) == converged_release
    assert releases(app_host) == kept
    assert readyz_status(app_host) == "200"


def test_rollback_to_a_named_release(app_host, state):
    kept = releases(app_host)
    result = playbook("rollback.yml", django_app_rollback_to=state["deployed"])
    assert result.returncode == 0, result.stdout[-4000:]
    assert current(app_host) == state["deployed"]
    assert releases(app_host) == kept
    assert readyz_status(app_host) == "200"


def test_rollback_to_an_unknown_release_fails_clearly(app_host, state):
    result = playbook("rollback.yml", django_app_rollback_to="19990101T000000Z-0000000000000000")
    assert result.returncode != 0
    assert "No release to roll back to" in result.stdout
    assert current(app_host) == state["deployed"]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"django_app_secrets_mode": "vault"}, "django_app_secrets_mode"),
        ({"django_app_keep_releases": 0}, "django_app_keep_releases"),
        ({"django_app_source_dir": "/nonexistent/app"}, "/nonexistent/app"),
    ],
    ids=["unknown-secrets-mode", "release-count-below-1", "missing-app-source"],
)
def test_bad_input_fails_before_any_change(app_host, extra, named):
    before = host_fingerprint(app_host)
    result = playbook("deploy-app.yml", **extra)
    assert result.returncode != 0
    assert named in result.stdout, result.stdout[-3000:]
    assert host_fingerprint(app_host) == before
