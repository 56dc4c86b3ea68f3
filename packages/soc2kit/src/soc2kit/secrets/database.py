"""DATABASES['default'] from DATABASE_URL plus, in AWS mode, the credentials secret; TLS enforced.

Where the user and password come from (DJANGO_DATABASE_CREDENTIALS_SOURCE):
- ``secret`` (the default with DJANGO_SECRETS_BACKEND=aws): the JSON secret DATABASE_CREDENTIALS.
- ``url`` (the default, and the only choice, with the env backend): DATABASE_URL itself. In AWS mode
  this is how `manage.py migrate` logs in as the schema owner: the deploy reads the owner's secret with
  the deployer's credentials and hands it over in a root-only file, so the hosts' role (and the running
  app) never needs read access to the owner's secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

from .loader import SecretSource, is_placeholder

CREDENTIALS_SOURCE = "DJANGO_DATABASE_CREDENTIALS_SOURCE"
CREDENTIALS_SOURCES = ("secret", "url")
CREDENTIALS_SECRET = "DATABASE_CREDENTIALS"  # noqa: S105 - a secret's name, not its value; JSON {"username", "password"}, e.g. the RDS-managed secret


def database_settings(
    source: SecretSource, environ_: Mapping[str, str], *, production: bool
) -> dict[str, Any]:
    url = environ_.get("DATABASE_URL", "").strip()
    if not url:
        raise ImproperlyConfigured(
            "Missing DATABASE_URL: set it to postgres://USER:PASSWORD@HOST:5432/NAME "
            "(in AWS mode the user and password may come from the secret "
            f"DJANGO_SECRET_ARNS_{CREDENTIALS_SECRET} instead)."
        )
    try:
        config = environ.Env.db_url_config(url)
    except Exception as exc:  # django-environ raises several types for a malformed URL
        raise ImproperlyConfigured(
            "DATABASE_URL is malformed; expected postgres://USER:PASSWORD@HOST:5432/NAME."
        ) from exc
    if config.get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            "DATABASE_URL must use the postgres:// scheme (PostgreSQL is the only database)."
        )

    if credentials_source(source, environ_) == "secret":
        if production or source.get(CREDENTIALS_SECRET) is not None:
            credentials = source.require_json(CREDENTIALS_SECRET, ("username", "password"))
            config["USER"] = credentials["username"]
            config["PASSWORD"] = credentials["password"]
    elif production and is_placeholder(str(config.get("PASSWORD") or "")):
        raise ImproperlyConfigured(
            "The database password in DATABASE_URL is missing or a placeholder; "
            "put the real password in DATABASE_URL "
            f"(or use DJANGO_SECRETS_BACKEND=aws with DJANGO_SECRET_ARNS_{CREDENTIALS_SECRET})."
        )

    options = config.setdefault("OPTIONS", {})
    if production:
        sslmode = options.get("sslmode", "verify-full")
        if sslmode != "verify-full":
            raise ImproperlyConfigured(
                f"DATABASE_URL sets sslmode={sslmode}; production requires sslmode=verify-full "
                "(remove the parameter, verify-full is the default)."
            )
        ca_bundle = environ_.get("DJANGO_DB_CA_BUNDLE", "").strip()
        if not ca_bundle:
            raise ImproperlyConfigured(
                "Missing DJANGO_DB_CA_BUNDLE: set it to the path of the RDS CA bundle "
                "(e.g. /etc/ssl/certs/rds-global-bundle.pem) so the database certificate can be verified."
            )
        if not Path(ca_bundle).is_file():
            raise ImproperlyConfigured(f"DJANGO_DB_CA_BUNDLE={ca_bundle} does not exist or is not a file.")
        options["sslmode"] = "verify-full"
        options["sslrootcert"] = ca_bundle
    config["CONN_MAX_AGE"] = 60
    config["CONN_HEALTH_CHECKS"] = True
    return config


def credentials_source(source: SecretSource, environ_: Mapping[str, str]) -> str:
    """'secret' or 'url': where the database login comes from (see the module docstring)."""
    default = "secret" if source.backend == "aws" else "url"
    chosen = environ_.get(CREDENTIALS_SOURCE, "").strip() or default
    if chosen not in CREDENTIALS_SOURCES:
        raise ImproperlyConfigured(
            f"{CREDENTIALS_SOURCE}={chosen!r} is not supported; set it to one of "
            f"{', '.join(CREDENTIALS_SOURCES)} (or leave it unset for {default!r})."
        )
    if chosen == "secret" and source.backend != "aws":
        raise ImproperlyConfigured(
            f"{CREDENTIALS_SOURCE}=secret needs DJANGO_SECRETS_BACKEND=aws; with the env backend the "
            "login is part of DATABASE_URL (unset it, or set it to 'url')."
        )
    return chosen
