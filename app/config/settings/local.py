"""Settings for a developer's machine: DEBUG on, plain HTTP, secrets still from the environment."""

from soc2kit.secrets.database import database_settings

from .base import *  # noqa: F403
from .base import SECRETS, env

DEBUG = True
SECRET_KEY = SECRETS.require("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
DATABASES = {"default": database_settings(SECRETS, env.ENVIRON, production=False)}
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
