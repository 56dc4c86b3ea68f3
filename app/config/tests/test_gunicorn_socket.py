"""The probes as the deploy scripts use them: gunicorn with the production settings on a unix socket,
no TLS in front. /healthz answers 200 without a database; /readyz names the unreachable database."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from soc2kit.secrets.tests.helpers import ENV_PREFIXES, production_environment

APP_DIR = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


def unix_get(sock_path: Path, path: str, host: str = "app.example.test") -> tuple[int, dict]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(20)
        conn.connect(str(sock_path))
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body or b"null")


@pytest.fixture(scope="module")
def gunicorn_socket(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("gunicorn")
    if not GUNICORN.exists():
        pytest.fail(f"gunicorn not found at {GUNICORN}; run 'make setup'")
    environment = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIXES)}
    environment.update(production_environment(tmp_path))
    with socket.socket() as probe:  # a loopback port nobody listens on: the database is "down"
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    environment["DATABASE_URL"] = f"postgres://app:Db-pw-0123456789@127.0.0.1:{closed_port}/soc2kit"
    environment["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    sock_path = tmp_path / "gunicorn.sock"
    process = subprocess.Popen(
        [str(GUNICORN), "--bind", f"unix:{sock_path}", "--workers", "1", "config.wsgi:application"],
        cwd=APP_DIR,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while not sock_path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output, _ = process.communicate()  # stdout=PIPE, stderr into it
            pytest.fail("gunicorn did not start: " + output.decode()[-2000:])
        time.sleep(0.1)
    yield sock_path
    process.terminate()
    process.wait(timeout=20)


def test_probes_over_the_unix_socket(gunicorn_socket):
    assert unix_get(gunicorn_socket, "/healthz") == (200, {"status": "ok"})
    status, body = unix_get(gunicorn_socket, "/readyz")
    assert status == 503
    assert "database" in body["failing"]


def test_other_paths_redirect_to_https_over_the_socket(gunicorn_socket):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(gunicorn_socket))
        conn.sendall(b"GET /accounts/login/ HTTP/1.1\r\nHost: app.example.test\r\nConnection: close\r\n\r\n")
        head = conn.recv(4096).decode()
    assert head.startswith("HTTP/1.1 301")
    assert "Location: https://app.example.test/accounts/login/" in head
