"""Production: HTTPS only, every secret required and checked, database over verified TLS.

Importing this module raises ImproperlyConfigured (so gunicorn and manage.py refuse to start) when a
secret is missing or a placeholder, naming the setting and where to set it (soc2kit.settings).
"""

from soc2kit.settings import production_settings

from .base import *  # noqa: F403
from .base import FIELD_ENCRYPTION, SECRETS

globals().update(production_settings(SECRETS, FIELD_ENCRYPTION))
