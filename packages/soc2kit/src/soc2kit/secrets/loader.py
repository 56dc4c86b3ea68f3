"""Secret loading: from the environment or from AWS Secrets Manager, refusing placeholders.

DJANGO_SECRETS_BACKEND selects the source:
- ``env`` (default): each secret is the environment variable of the same name.
- ``aws``: each secret is fetched from Secrets Manager; the environment variable
  ``DJANGO_SECRET_ARNS_<NAME>`` holds its ARN (or name). Secrets Manager decrypts the value
  with the KMS key the secret was created with, so the app needs kms:Decrypt on that key
  and secretsmanager:GetSecretValue on the secret, nothing more.

Values are fetched once per process (settings import) and never logged.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

ARN_PREFIX = "DJANGO_SECRET_ARNS_"
BACKENDS = ("env", "aws")

# Values that mean "somebody forgot to set this": compared case-insensitively after stripping.
PLACEHOLDERS = frozenset(
    {
        "changeme",
        "change_me",
        "change-me",
        "changethis",
        "placeholder",
        "secret",
        "password",
        "todo",
        "xxx",
        "none",
        "null",
        "default",
        "example",
        "dummy",
        "test",
    }
)
_PLACEHOLDER_PATTERN = re.compile(r"(change[_-]?me|placeholder|replace[_-]?me|your[_-].*here|^<.*>$)", re.I)


def is_placeholder(value: str) -> bool:
    """True for empty values and the usual "fill me in" markers."""
    stripped = value.strip()
    return (
        not stripped
        or stripped.lower() in PLACEHOLDERS
        or bool(_PLACEHOLDER_PATTERN.search(stripped))
        or len(set(stripped)) == 1
    )


class SecretSource:
    """Reads named secrets from one backend. ``get`` returns None when a secret is not configured."""

    def __init__(self, backend: str, environ: Mapping[str, str] | None = None) -> None:
        if backend not in BACKENDS:
            raise ImproperlyConfigured(
                f"DJANGO_SECRETS_BACKEND={backend!r} is not supported; "
                f"set it to one of {', '.join(BACKENDS)}."
            )
        self.backend = backend
        self.environ = os.environ if environ is None else environ
        self._client: Any = None
        self._cache: dict[str, str] = {}

    def describe(self, name: str) -> str:
        """Where the operator sets secret ``name`` (used in error messages)."""
        if self.backend == "aws":
            return f"the Secrets Manager secret whose ARN is in {ARN_PREFIX}{name}"
        return f"the environment variable {name}"

    def get(self, name: str) -> str | None:
        if name in self._cache:
            return self._cache[name]
        if self.backend == "env":
            value = self.environ.get(name)
        else:
            arn = self.environ.get(ARN_PREFIX + name, "").strip()
            value = self._fetch(name, arn) if arn else None
        if value is not None:
            self._cache[name] = value
        return value

    def _fetch(self, name: str, arn: str) -> str:
        if self._client is None:
            import boto3  # imported lazily: the env backend must not need AWS libraries configured

            region = self.environ.get("AWS_REGION") or self.environ.get("AWS_DEFAULT_REGION")
            if not region:
                raise ImproperlyConfigured(
                    "DJANGO_SECRETS_BACKEND=aws needs AWS_REGION (or AWS_DEFAULT_REGION) "
                    "to reach Secrets Manager."
                )
            self._client = boto3.client("secretsmanager", region_name=region)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.get_secret_value(SecretId=arn)
        except (ClientError, BotoCoreError) as exc:
            # The ARN is not secret; the error text from AWS names the cause (not found, access denied).
            raise ImproperlyConfigured(
                f"Could not read secret {name} from Secrets Manager ({ARN_PREFIX}{name}={arn}): {exc}"
            ) from exc
        value = response.get("SecretString")
        if value is None:
            raise ImproperlyConfigured(
                f"Secret {name} ({arn}) has no SecretString; store it as a string, not binary."
            )
        return value

    def require(self, name: str, *, min_length: int = 1, forbid_prefixes: tuple[str, ...] = ()) -> str:
        """The secret's value, or ImproperlyConfigured naming the secret and how to fix it."""
        value = self.get(name)
        where = self.describe(name)
        if value is None:
            raise ImproperlyConfigured(f"Missing secret {name}: set {where}.")
        if is_placeholder(value) or any(value.startswith(prefix) for prefix in forbid_prefixes):
            raise ImproperlyConfigured(
                f"Secret {name} is still a placeholder; put a real generated value in {where}."
            )
        if len(value) < min_length:
            raise ImproperlyConfigured(
                f"Secret {name} is too short ({len(value)} characters, at least {min_length} required); "
                f"generate a longer one and put it in {where}."
            )
        return value

    def require_json(self, name: str, keys: tuple[str, ...]) -> dict[str, Any]:
        """A JSON secret (e.g. the RDS-managed {"username", "password"} secret) with ``keys`` present."""
        raw = self.get(name)
        if raw is None:
            raise ImproperlyConfigured(f"Missing secret {name}: set {self.describe(name)}.")
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"Secret {name} is not valid JSON; {self.describe(name)} "
                f"must hold an object with {', '.join(keys)}."
            ) from exc
        if not isinstance(data, dict):
            raise ImproperlyConfigured(f"Secret {name} must be a JSON object with {', '.join(keys)}.")
        for key in keys:
            value = data.get(key)
            if not isinstance(value, str) or is_placeholder(value):
                raise ImproperlyConfigured(
                    f"Secret {name} has a missing or placeholder {key!r}; fix it in {self.describe(name)}."
                )
        return data


def secret_source_from_environment(environ: Mapping[str, str] | None = None) -> SecretSource:
    environ = os.environ if environ is None else environ
    return SecretSource(environ.get("DJANGO_SECRETS_BACKEND", "env").strip() or "env", environ)
