"""WSGI entry point for gunicorn (config.wsgi:application)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
application = get_wsgi_application()

# Malformed or wrong-length field-encryption keys, or broken KEK JSON, stop gunicorn here.
from soc2kit.encryption.config import require_valid_settings  # noqa: E402 - needs the settings loaded

require_valid_settings()
