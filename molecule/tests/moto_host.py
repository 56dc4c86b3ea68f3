"""A moto server on a test host's loopback, standing in for AWS (shared by the tests of the AWS modes).

moto[server] from PyPI in its own venv on the host (pip trusts the proxy CAs through the ca_trust
role's /etc/pip.conf), run as a transient systemd unit on 127.0.0.1:5000. moto keeps its state in
memory: a restart starts from nothing. Scripts that talk to it run with the venv's python (boto3
comes with moto) and moto's dummy credentials (moto accepts any; on EC2 the instance role provides
real ones).
"""

from __future__ import annotations

import base64
import time
import uuid

MOTO_VERSION = "5.2.5"  # as in requirements-dev.txt
MOTO_VENV = "/opt/soc2kit-moto"
MOTO_UNIT = "soc2kit-moto"
MOTO_URL = "http://127.0.0.1:5000"
REGION = "us-east-1"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "moto", "AWS_SECRET_ACCESS_KEY": "moto"}


def put_text(host, path: str, text: str) -> None:
    """Writes text to a file on the host (base64 on the command line: no quoting or templating issues)."""
    host.run_test(f"echo {base64.b64encode(text.encode()).decode()} | base64 -d > {path}")


def start(host) -> str:
    """(Re)starts moto on the host, installing it first if needed; returns its URL once it answers."""
    host.run_test(
        f"test -x {MOTO_VENV}/bin/moto_server || "
        f"(python3 -m venv --without-pip {MOTO_VENV} && "
        f"python3 -m pip --python {MOTO_VENV}/bin/python install --no-input -q "
        f"'moto[server]=={MOTO_VERSION}')"
    )
    stop(host)
    host.run_test(
        f"systemd-run --unit={MOTO_UNIT} --collect {MOTO_VENV}/bin/moto_server -H 127.0.0.1 -p 5000"
    )
    for _ in range(60):
        if host.run(f"curl -fsS -o /dev/null {MOTO_URL}/moto-api/").rc == 0:
            return MOTO_URL
        time.sleep(0.5)
    raise AssertionError(f"moto did not answer on {MOTO_URL} within 30 s")


def stop(host) -> None:
    host.run(f"systemctl stop {MOTO_UNIT}")


def run_python(host, script: str, *args: str):
    """Runs a Python script on the host with moto's venv and dummy credentials; returns the result."""
    path = f"/run/soc2kit-moto-{uuid.uuid4().hex[:8]}.py"
    put_text(host, path, script)
    credentials = " ".join(f"{name}={value}" for name, value in DUMMY_CREDENTIALS.items())
    try:
        return host.run(f"{credentials} {MOTO_VENV}/bin/python {path} {' '.join(args)}")
    finally:
        host.run(f"rm -f {path}")
