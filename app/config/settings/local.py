"""Settings for a developer's machine: DEBUG on, secrets still from the environment."""

from .base import *  # noqa: F403
from .base import env

DEBUG = True
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
DATABASES = {"default": env.db("DATABASE_URL")}
