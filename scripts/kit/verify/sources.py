"""Where the known secret values come from: the hosts' own secret sources, read into memory only.

- `file` mode: the app's secrets env file on each host (/etc/django-app/secrets.env).
- `aws` mode: the Secrets Manager values named by DJANGO_SECRET_ARNS_* in the app's environment file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .. import KitError
from .context import Hosts
from .secrets import parse_env_file

SECRETS_FILE = "/etc/django-app/secrets.env"
APP_ENV_FILE = "/etc/django-app/app.env"
ARN_PREFIX = "DJANGO_SECRET_ARNS_"


def read_host_secrets(hosts: Hosts, fetch_secret: Callable[[str, str], str] | None = None) -> dict[str, str]:
    found: dict[str, str] = {}
    for host in hosts.names:
        done = hosts.run(
            host, f"cat {SECRETS_FILE} 2>/dev/null; echo '--- app.env ---'; cat {APP_ENV_FILE} 2>/dev/null"
        )
        secret_text, _, app_env_text = done.stdout.partition("--- app.env ---")
        for name, value in parse_env_file(secret_text).items():
            found[f"{name}@{host}"] = value
        app_env = parse_env_file(app_env_text)
        arns = {k[len(ARN_PREFIX) :]: v for k, v in app_env.items() if k.startswith(ARN_PREFIX) and v}
        if arns:
            fetch = fetch_secret or _secrets_manager(app_env.get("AWS_REGION", ""))
            for name, arn in arns.items():
                try:
                    found[f"{name}@{host}"] = fetch(name, arn)
                except Exception as error:
                    raise KitError(
                        f"cannot read secret {name} ({arn}) to scrub it from the evidence: {error}",
                        "run `make verify` with credentials allowed secretsmanager:GetSecretValue and "
                        "kms:Decrypt on the stack's secrets (the values stay in memory; the report never "
                        "contains them)",
                    ) from error
    return found


def _secrets_manager(region: str) -> Callable[[str, str], str]:
    def fetch(_name: str, arn: str) -> str:
        import boto3

        client: Any = boto3.session.Session().client("secretsmanager", region_name=region or None)
        return str(client.get_secret_value(SecretId=arn)["SecretString"])

    return fetch


def describe(secrets: dict[str, str]) -> str:
    """For the report: which secrets were scrubbed (names only)."""
    return json.dumps(sorted(secrets))
