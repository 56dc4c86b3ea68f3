"""Two app hosts behind the balancer, rolling releases under steady load (needs `make deploy ENV=rehearsal`).

The load goes to the balancer's port on 127.0.0.1 only, bounded in requests and time. Each test prints its
figures; together they are the rolling and rollback figures of the rehearsal:
  - a good release, in batches of one host then the rest, fails 0 requests while each host's gunicorn is
    replaced;
  - a release failing /readyz stops after its first batch: that host keeps serving the old release with
    the same gunicorn, the play shows the app's own answer, and the other host is not touched;
  - migrations run once per release, not once per batch;
  - `make rollback ENV=rehearsal` brings every host back to the same release and deletes none;
  - a named rollback switches to that release; an unknown name and bad variables fail before any change;
  - a host whose container is stopped mid-load costs at most the requests in flight (one per load thread),
    and serves again once started.
These were the single-host release tests of the default molecule scenario too; they run here only, where a
balancer and two hosts make them the production case.
Run after `make deploy ENV=rehearsal` (it deploys releases: for the rehearsal only):
`.venv/bin/pytest -q -s tests/rehearsal`.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

from kit import aws, rehearsal  # noqa: E402
from rehearsal_hosts import inventory_name, on_host, podman, readyz_status  # noqa: E402

CURRENT = "/srv/django-app/current"
# Bounds of the load: it stops at whichever comes first.
LOAD_THREADS = 4
LOAD_MAX_SECONDS = 900
LOAD_MAX_REQUESTS = 100_000
PLAYBOOK_TIMEOUT = 1800
MIGRATE_TASK = "django_app : Activate | Migrations applied"
RELEASES = "/srv/django-app/releases"
# How long a restarted host may take to serve again (systemd boot, gunicorn, the web server).
RESTART_TIMEOUT = 180


def current_release(index: int) -> str:
    """The source hash of the release the host serves: a release is named <UTC time>-<source hash>, and
    each host builds its own, so the same release has a different time on each host."""
    name = podman("exec", rehearsal.app_container(index), "readlink", CURRENT).rsplit("/", 1)[-1]
    return name.rsplit("-", 1)[-1]


def releases_on_every_host() -> list[str]:
    return [current_release(i) for i in range(rehearsal.APP_HOST_COUNT)]


def main_pids() -> list[str]:
    return [
        on_host(i, "systemctl show -p MainPID --value django-app.service")
        for i in range(rehearsal.APP_HOST_COUNT)
    ]


def release_dirs() -> list[list[str]]:
    return [sorted(on_host(i, f"ls -1 {RELEASES}").split()) for i in range(rehearsal.APP_HOST_COUNT)]


def readyz_statuses() -> list[str]:
    return [readyz_status(i) for i in range(rehearsal.APP_HOST_COUNT)]


def fingerprints() -> list[str]:
    """What a deploy changes on each host: the current link, the releases, the app's configuration and
    units, the serving gunicorn."""
    return [
        on_host(
            i,
            f"readlink {CURRENT}; ls -1 {RELEASES}; "
            "sha256sum /etc/django-app/* /etc/systemd/system/django-app* 2>/dev/null; "
            "systemctl show -p MainPID --value django-app.service",
        )
        for i in range(rehearsal.APP_HOST_COUNT)
    ]


def playbook(name: str, *options: str, **extra: Any) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        str(aws.inventory_dir(rehearsal.ENV)),
        *options,
        str(ROOT / "ansible" / name),
    ]
    if extra:
        command += ["-e", json.dumps(extra)]
    env = {**os.environ, **aws.ansible_env(rehearsal.ENV), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    started = time.monotonic()
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=PLAYBOOK_TIMEOUT, check=False
    )
    print(f"{name} {sorted(extra)}: rc={result.returncode} in {time.monotonic() - started:.0f} s")
    return result


def hosts_that_ran(output: str, task_prefix: str) -> list[str]:
    """The hosts for which ansible-playbook's default output shows the task as run (ok or changed)."""
    hosts: list[str] = []
    for block in output.split("\nTASK [")[1:]:
        if block.startswith(task_prefix):
            hosts += re.findall(r"^(?:ok|changed): \[([^\]]+)\]", block, re.MULTILINE)
    return hosts


def source_copy(tmp_path: Path, marker: str, broken_readyz: bool = False) -> Path:
    """app/ with a marker file (a new release) and optionally a /readyz that reports a failure."""
    source = tmp_path / "app"
    shutil.copytree(ROOT / "app", source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".env"))
    (source / "RELEASE_MARKER").write_text(marker + "\n")
    if broken_readyz:
        with (source / "config/urls.py").open("a") as urls:
            urls.write(
                "\n\n# Broken on purpose by tests/rehearsal/test_rolling.py.\n"
                "from django.http import JsonResponse as _JsonResponse  # noqa: E402\n"
                "from django.urls import path as _path  # noqa: E402\n\n"
                "urlpatterns.insert(0, _path('readyz', lambda request: _JsonResponse("
                "{'status': 'unavailable', 'failing': ['rehearsal_broken_release']}, status=503)))\n"
            )
    return source


class Load:
    """LOAD_THREADS loops of GET /healthz through the balancer on 127.0.0.1 (SNI and Host: the site)."""

    def __init__(self, ca_file: Path) -> None:
        self.context = ssl.create_default_context(cafile=str(ca_file))
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failed = 0
        self.errors: dict[str, int] = {}
        self.started = time.monotonic()

    def _done(self) -> bool:
        return (
            self.stop.is_set()
            or time.monotonic() - self.started > LOAD_MAX_SECONDS
            or self.ok + self.failed >= LOAD_MAX_REQUESTS
        )

    def _one(self) -> None:
        error = None
        try:
            raw = socket.create_connection(("127.0.0.1", rehearsal.PORTS["https"]), timeout=30)
            connection = http.client.HTTPSConnection("127.0.0.1", rehearsal.PORTS["https"], timeout=30)
            connection.sock = self.context.wrap_socket(raw, server_hostname=rehearsal.SITE_DOMAIN)
            connection.request("GET", "/healthz", headers={"Host": rehearsal.SITE_DOMAIN})
            status = connection.getresponse().status
            connection.close()
            error = None if status == 200 else f"http-{status}"
        except (OSError, http.client.HTTPException) as exc:
            error = type(exc).__name__
        with self.lock:
            if error is None:
                self.ok += 1
            else:
                self.failed += 1
                self.errors[error] = self.errors.get(error, 0) + 1

    def _loop(self) -> None:
        while not self._done():
            self._one()
            time.sleep(0.02)

    @contextmanager
    def running(self) -> Iterator[Load]:
        workers = [threading.Thread(target=self._loop) for _ in range(LOAD_THREADS)]
        for worker in workers:
            worker.start()
        try:
            time.sleep(3)
            yield self
            time.sleep(3)
        finally:
            self.stop.set()
            for worker in workers:
                worker.join()

    def figures(self) -> str:
        return f"{self.ok} ok, {self.failed} failed {self.errors}, {time.monotonic() - self.started:.0f} s"


@pytest.fixture(scope="module")
def site_ca() -> Path:
    return rehearsal.fetch_acme_root()


@pytest.fixture(scope="module")
def deployed() -> list[str]:
    before = releases_on_every_host()
    assert len(set(before)) == 1, f"the hosts run different releases before the test: {before}"
    return before


@pytest.fixture(scope="module")
def state() -> dict[str, Any]:
    return {}


def test_good_release_rolls_out_in_batches_and_fails_no_request(
    deployed: list[str], state: dict[str, Any], site_ca: Path, tmp_path: Path
) -> None:
    marker = f"rehearsal-{uuid.uuid4().hex}"
    pids_before = main_pids()
    load = Load(site_ca)
    with load.running():
        result = playbook(
            "deploy-app.yml",
            django_app_source_dir=str(source_copy(tmp_path, marker)),
            deploy_serial=[1, "50%"],
        )
    print(f"good release under load: {load.figures()}")
    assert result.returncode == 0, result.stdout[-4000:]
    # Two batches: one host, then the other.
    assert result.stdout.count("PLAY [Deploy the Django app]") == 2, result.stdout[-3000:]
    new = releases_on_every_host()
    assert len(set(new)) == 1
    assert new[0] != deployed[0]
    for index in range(rehearsal.APP_HOST_COUNT):
        marker_file = podman("exec", rehearsal.app_container(index), "cat", f"{CURRENT}/RELEASE_MARKER")
        assert marker_file == marker
    assert load.failed == 0, f"requests failed during the rolling release: {load.errors}"
    assert load.ok > 50
    # Each host's gunicorn was replaced while the load ran, and the new one is ready.
    pids_after = main_pids()
    assert all(a != b for a, b in zip(pids_after, pids_before, strict=True)), (pids_before, pids_after)
    assert readyz_statuses() == ["200"] * rehearsal.APP_HOST_COUNT
    # run_once is per batch: the migrations of this release ran in the first batch only.
    migrated = hosts_that_ran(result.stdout, MIGRATE_TASK)
    print(f"migrations ran on: {migrated}")
    assert len(migrated) == 1, migrated
    state["good"] = new[0]


def test_release_failing_readyz_stops_after_its_first_batch(
    state: dict[str, Any], site_ca: Path, tmp_path: Path
) -> None:
    source = source_copy(tmp_path, f"broken-{uuid.uuid4().hex}", broken_readyz=True)
    pids_before = main_pids()
    load = Load(site_ca)
    with load.running():
        result = playbook("deploy-app.yml", django_app_source_dir=str(source), deploy_serial=[1, "50%"])
    print(f"release failing /readyz under load: {load.figures()}")
    assert result.returncode != 0, "a release failing /readyz was deployed"
    refusal = result.stdout.find("failed its /readyz check")
    print(result.stdout[max(refusal - 80, 0) : refusal + 400] if refusal >= 0 else result.stdout[-3000:])
    # The play shows the app's own answer and says what it kept.
    assert "rehearsal_broken_release" in result.stdout
    assert "current is unchanged" in result.stdout
    # The first batch refused it; the second batch never started: the other host was not touched.
    assert result.stdout.count("PLAY [Deploy the Django app]") == 1, result.stdout[-3000:]
    assert releases_on_every_host() == [state["good"]] * rehearsal.APP_HOST_COUNT
    assert load.failed == 0, f"requests failed while the broken release was tried: {load.errors}"
    # The serving gunicorn was not restarted, the candidate is gone, and both hosts are ready.
    assert main_pids() == pids_before
    for index in range(rehearsal.APP_HOST_COUNT):
        candidate = on_host(index, "systemctl list-units --all --plain --no-legend 'django-app-candidate@*'")
        assert " running " not in f" {candidate} ", candidate
    assert readyz_statuses() == ["200"] * rehearsal.APP_HOST_COUNT


def test_rollback_brings_every_host_back_to_the_same_release(
    deployed: list[str], state: dict[str, Any]
) -> None:
    kept = release_dirs()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["make", "rollback", "ENV=rehearsal"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=PLAYBOOK_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    after = releases_on_every_host()
    print(f"after make rollback ENV=rehearsal: {after}")
    assert after == [deployed[0]] * rehearsal.APP_HOST_COUNT
    assert release_dirs() == kept, "the rollback deleted a release"
    assert readyz_statuses() == ["200"] * rehearsal.APP_HOST_COUNT


def test_rollback_to_a_named_release(state: dict[str, Any]) -> None:
    """Each host builds its own release directory (<UTC time>-<source hash>), so a name is one host's:
    the operator names it with --limit to that host."""
    kept = release_dirs()
    name = next(r for r in kept[0] if r.endswith("-" + state["good"]))
    result = playbook("rollback.yml", "--limit", inventory_name(0), django_app_rollback_to=name)
    assert result.returncode == 0, result.stdout[-4000:]
    assert current_release(0) == state["good"]
    assert release_dirs() == kept
    assert readyz_statuses()[0] == "200"


def test_rollback_to_an_unknown_release_fails_clearly() -> None:
    before = fingerprints()
    result = playbook("rollback.yml", django_app_rollback_to="19990101T000000Z-0000000000000000")
    assert result.returncode != 0
    assert "No release to roll back to" in result.stdout, result.stdout[-3000:]
    assert fingerprints() == before


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"django_app_secrets_mode": "vault"}, "django_app_secrets_mode"),
        ({"django_app_keep_releases": 0}, "django_app_keep_releases"),
        ({"django_app_source_dir": "/nonexistent/app"}, "/nonexistent/app"),
    ],
    ids=["unknown-secrets-mode", "release-count-below-1", "missing-app-source"],
)
def test_bad_input_fails_before_any_change(extra: dict[str, Any], named: str) -> None:
    before = fingerprints()
    result = playbook("deploy-app.yml", **extra)
    assert result.returncode != 0
    assert named in result.stdout, result.stdout[-3000:]
    assert fingerprints() == before


def serving(index: int, web_unit: str) -> bool:
    units = ["django-app.socket", "django-app.service", web_unit]
    done = podman("exec", rehearsal.app_container(index), "systemctl", "is-active", *units, check=False)
    return done.split() == ["active"] * len(units)


def test_a_host_stopped_mid_load_costs_at_most_the_requests_in_flight(site_ca: Path) -> None:
    """The balancer routes around a stopped host: a failed connect is retried on the other host and marks
    the stopped one down; only requests already inside the stopped host (one per load thread) may fail."""
    index = rehearsal.APP_HOST_COUNT - 1
    web_unit = {"nginx": "nginx.service", "apache": "apache2.service"}[rehearsal.deployed_web("")]
    load = Load(site_ca)
    try:
        with load.running():
            started = time.monotonic()
            podman("stop", "-t", "10", rehearsal.app_container(index))
            print(f"podman stop took {time.monotonic() - started:.1f} s")
            time.sleep(10)  # the other host alone carries the load
        print(f"host stopped under load: {load.figures()}")
        assert load.ok > 50
        assert load.failed <= LOAD_THREADS, f"more than the requests in flight failed: {load.errors}"
    finally:
        podman("start", rehearsal.app_container(index))
        deadline = time.monotonic() + RESTART_TIMEOUT
        while not serving(index, web_unit) and time.monotonic() < deadline:
            time.sleep(2)
    assert serving(index, web_unit), f"{rehearsal.app_container(index)} did not serve again after a restart"
