"""Benchmark settings: the test settings (real PostgreSQL from TEST_DATABASE_URL, local KEK) plus the
bench app, and the salt django-fernet-encrypted-fields needs."""

from config.settings.test import *  # noqa: F403
from config.settings.test import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
ROOT_URLCONF = "bench.urls"
SALT_KEY = "bench-only-salt"  # django-fernet-encrypted-fields derives its key from SECRET_KEY + this
AXES_ENABLED = False  # the bench logs its client in with force_login (no request address to key lockouts on)
