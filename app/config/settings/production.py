"""Production: HTTPS only, every secret required and checked, database over verified TLS.

Importing this module raises ImproperlyConfigured (so gunicorn and manage.py refuse to start) when a
secret is missing or a placeholder, naming the setting and where to set it.
"""

from django.core.checks.security.base import SECRET_KEY_MIN_LENGTH, SECRET_KEY_MIN_UNIQUE_CHARACTERS
from django.core.exceptions import ImproperlyConfigured
from soc2kit.secrets.database import database_settings
from soc2kit.secrets.loader import is_placeholder

from .base import *  # noqa: F403
from .base import FIELD_ENCRYPTION, SECRETS, env

DEBUG = False
# Django's own deploy check wants >= 50 characters; django-insecure-* is startproject's throw-away key.
SECRET_KEY = SECRETS.require(
    "DJANGO_SECRET_KEY", min_length=SECRET_KEY_MIN_LENGTH, forbid_prefixes=("django-insecure-",)
)
if len(set(SECRET_KEY)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:  # the same test as Django's security.W009
    raise ImproperlyConfigured(
        f"Secret DJANGO_SECRET_KEY has fewer than {SECRET_KEY_MIN_UNIQUE_CHARACTERS} distinct characters, "
        f"so it is guessable; put a generated value in {SECRETS.describe('DJANGO_SECRET_KEY')} (e.g. "
        "python -c 'from django.core.management.utils import get_random_secret_key as k; print(k())')."
    )
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "Missing DJANGO_ALLOWED_HOSTS: set it to the site's host name(s), comma-separated."
    )
for _host in ALLOWED_HOSTS:
    if not _host.strip(
        ".* "
    ):  # "*" (or "." / "*.") accepts any Host header: poisoned reset links, cache keys
        raise ImproperlyConfigured(
            f"DJANGO_ALLOWED_HOSTS contains the wildcard {_host!r}, which accepts any Host header; "
            "list the site's host name(s) instead (a leading dot, .example.com, allows its subdomains)."
        )
DATABASES = {"default": database_settings(SECRETS, env.ENVIRON, production=True)}

# Field-encryption key material: the local KEK document or a KMS key, plus the blind-index key.
KEK_BACKEND = FIELD_ENCRYPTION["KEK_BACKEND"]
if KEK_BACKEND == "local":
    FIELD_ENCRYPTION["LOCAL_KEKS"] = SECRETS.require("FIELD_ENCRYPTION_LOCAL_KEKS")
elif KEK_BACKEND == "kms":
    if is_placeholder(FIELD_ENCRYPTION["KMS_KEY_ID"]):
        raise ImproperlyConfigured(
            "Missing FIELD_ENCRYPTION_KMS_KEY_ID: set it to the ARN or alias of the KMS key "
            "that wraps the data keys."
        )
else:
    raise ImproperlyConfigured(
        f"FIELD_ENCRYPTION_KEK_BACKEND={KEK_BACKEND!r} is not supported; use 'kms' or 'local'."
    )
FIELD_ENCRYPTION["BLIND_INDEX_KEY"] = SECRETS.require("FIELD_ENCRYPTION_BLIND_INDEX_KEY", min_length=40)

# HTTPS everywhere. The proxy sets X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER in base.py).
SECURE_SSL_REDIRECT = True
# Health probes may come over the local unix socket or plain HTTP from the load balancer; they
# expose nothing but "ok" and the name of a failing dependency.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = 63072000  # two years (Mozilla server-side TLS 6.0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# __Host- cookies: the browser only accepts them over HTTPS, for this exact host, path /.
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken"
