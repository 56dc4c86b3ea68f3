"""The kit's environment contract as Django settings, failing closed.

A project's ``config/settings/production.py`` calls it in a few lines::

    from soc2kit.settings import production_settings
    from soc2kit.secrets.loader import secret_source_from_environment

    from .base import *  # noqa: F403
    from .base import FIELD_ENCRYPTION

    globals().update(production_settings(secret_source_from_environment(), FIELD_ENCRYPTION))

``production_settings`` raises ImproperlyConfigured (so gunicorn and manage.py refuse to start) when a
secret is missing or a placeholder, naming the variable and where to set it. ``field_encryption_settings``
and ``KIT_APPS`` give a new project the rest of the contract (see docs/own-project.md of the kit).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import environ
from django.core.checks.security.base import SECRET_KEY_MIN_LENGTH, SECRET_KEY_MIN_UNIQUE_CHARACTERS
from django.core.exceptions import ImproperlyConfigured

from .secrets.database import database_settings
from .secrets.loader import SecretSource, is_placeholder

# The kit's Django apps, in the order a project lists them in INSTALLED_APPS (after django.contrib.*).
KIT_APPS = [
    "axes",
    "soc2kit.encryption",
    "soc2kit.observability",
    "soc2kit.audit",
    "soc2kit.accounts",
    "soc2kit.health",
]
# Health probes may come over the local unix socket or plain HTTP from the load balancer; they
# expose nothing but "ok" and the name of a failing dependency.
HEALTH_PATHS_EXEMPT_FROM_REDIRECT = [r"^healthz$", r"^readyz$"]


def field_encryption_settings(
    secrets: SecretSource, environ_: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """FIELD_ENCRYPTION from the kit's variables (FIELD_ENCRYPTION_*); production_settings requires them."""
    values = os.environ if environ_ is None else environ_
    return {
        "KEK_BACKEND": values.get("FIELD_ENCRYPTION_KEK_BACKEND", "local"),
        "LOCAL_KEKS": secrets.get("FIELD_ENCRYPTION_LOCAL_KEKS") or "",
        "KMS_KEY_ID": values.get("FIELD_ENCRYPTION_KMS_KEY_ID", ""),
        # Bound into every KMS call; the key policy only allows this value (Pulumi's app_name).
        "KMS_ENCRYPTION_CONTEXT": {"app": values.get("FIELD_ENCRYPTION_KMS_CONTEXT_APP", "soc2kit")},
        "BLIND_INDEX_KEY": secrets.get("FIELD_ENCRYPTION_BLIND_INDEX_KEY") or "",
    }


def production_settings(
    secrets: SecretSource, field_encryption: dict[str, Any], environ_: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """HTTPS only, every secret required and checked, database over verified TLS."""
    values = os.environ if environ_ is None else environ_
    env = environ.Env()
    env.ENVIRON = values
    # Django's own deploy check wants >= 50 characters; django-insecure-* is startproject's throw-away key.
    secret_key = secrets.require(
        "DJANGO_SECRET_KEY", min_length=SECRET_KEY_MIN_LENGTH, forbid_prefixes=("django-insecure-",)
    )
    if len(set(secret_key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:  # the same test as Django's security.W009
        raise ImproperlyConfigured(
            f"Secret DJANGO_SECRET_KEY has fewer than {SECRET_KEY_MIN_UNIQUE_CHARACTERS} distinct "
            "characters, so it is guessable; put a generated value in "
            f"{secrets.describe('DJANGO_SECRET_KEY')} (e.g. "
            "python -c 'from django.core.management.utils import get_random_secret_key as k; print(k())')."
        )
    allowed_hosts = env.list("DJANGO_ALLOWED_HOSTS", default=[])
    if not allowed_hosts:
        raise ImproperlyConfigured(
            "Missing DJANGO_ALLOWED_HOSTS: set it to the site's host name(s), comma-separated."
        )
    for host in allowed_hosts:
        if not host.strip(
            ".* "
        ):  # "*" (or "." / "*.") accepts any Host header: poisoned reset links, cache keys
            raise ImproperlyConfigured(
                f"DJANGO_ALLOWED_HOSTS contains the wildcard {host!r}, which accepts any Host header; "
                "list the site's host name(s) instead (a leading dot, .example.com, allows its subdomains)."
            )

    # Field-encryption key material: the local KEK document or a KMS key, plus the blind-index key.
    kek_backend = field_encryption["KEK_BACKEND"]
    if kek_backend == "local":
        field_encryption["LOCAL_KEKS"] = secrets.require("FIELD_ENCRYPTION_LOCAL_KEKS")
    elif kek_backend == "kms":
        if is_placeholder(field_encryption["KMS_KEY_ID"]):
            raise ImproperlyConfigured(
                "Missing FIELD_ENCRYPTION_KMS_KEY_ID: set it to the ARN or alias of the KMS key "
                "that wraps the data keys."
            )
    else:
        raise ImproperlyConfigured(
            f"FIELD_ENCRYPTION_KEK_BACKEND={kek_backend!r} is not supported; use 'kms' or 'local'."
        )
    field_encryption["BLIND_INDEX_KEY"] = secrets.require("FIELD_ENCRYPTION_BLIND_INDEX_KEY", min_length=40)

    return {
        "DEBUG": False,
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": allowed_hosts,
        "DATABASES": {"default": database_settings(secrets, values, production=True)},
        "FIELD_ENCRYPTION": field_encryption,
        # HTTPS everywhere. The proxy sets X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER).
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),  # the web server overwrites it
        "SECURE_SSL_REDIRECT": True,
        "SECURE_REDIRECT_EXEMPT": HEALTH_PATHS_EXEMPT_FROM_REDIRECT,
        "SECURE_HSTS_SECONDS": 63072000,  # two years (Mozilla server-side TLS 6.0)
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": env.bool("DJANGO_HSTS_PRELOAD", default=True),
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        # __Host- cookies: the browser only accepts them over HTTPS, for this exact host, path /.
        "SESSION_COOKIE_NAME": "__Host-sessionid",
        "CSRF_COOKIE_NAME": "__Host-csrftoken",
    }
