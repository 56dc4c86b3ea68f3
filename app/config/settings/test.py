"""Settings for the test suite: a real PostgreSQL (TEST_DATABASE_URL, started by scripts/test-app.sh)."""

from .base import *  # noqa: F403
from .base import env

SECRET_KEY = "test-only-not-secret-" + "x" * 40  # the test suite's own throw-away key
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost"]
DATABASES = {"default": env.db("TEST_DATABASE_URL")}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast hashing in tests only
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ADMINS = [("Security team", "security@example.test")]
# The test client speaks plain HTTP; tests of the redirect turn it on with override_settings.
SECURE_SSL_REDIRECT = False

# Models used only by the field-encryption tests.
INSTALLED_APPS = [*INSTALLED_APPS, "soc2kit.encryption.tests.testapp"]  # noqa: F405

# Throw-away field-encryption keys for the local KEK backend (test suite only; not secret).
FIELD_ENCRYPTION = {
    "KEK_BACKEND": "local",
    "LOCAL_KEKS": '{"active": "k1", "keys": {"k1": "dGVzdC1rZWstMS1ub3Qtc2VjcmV0LTMyLWJ5dGVzISE="}}',
    "KMS_KEY_ID": "",
    "KMS_ENCRYPTION_CONTEXT": {"app": "soc2kit"},
    "BLIND_INDEX_KEY": "dGVzdC1ibGluZC1pbmRleC1rZXktMzItYnl0ZXMhISE=",
}
