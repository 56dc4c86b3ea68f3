"""AWS for the kit's tests: a moto server on loopback, the environment that points boto3 (and Ansible's
amazon.aws lookups) at it, and Secrets Manager clients of it. Nothing leaves the machine: moto's
documented test credentials, no instance-metadata lookups."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

# What a process needs to reach the moto server at `AWS_ENDPOINT_URL` and nothing else.
TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 (a free port) for the block; yields its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def aws_env(endpoint_url: str) -> dict[str, str]:
    """Environment variables that send every AWS call of a child process to the moto server."""
    return {"AWS_ENDPOINT_URL": endpoint_url, **TEST_CREDENTIALS}


def secretsmanager(endpoint_url: str, region: str) -> Any:
    """A boto3 Secrets Manager client of the moto server."""
    return boto3.client(
        "secretsmanager",
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
