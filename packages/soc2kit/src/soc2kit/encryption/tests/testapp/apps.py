from django.apps import AppConfig


class EncryptionTestAppConfig(AppConfig):
    """Models for the encryption tests only (INSTALLED_APPS in config/settings/test.py)."""

    name = "soc2kit.encryption.tests.testapp"
    label = "encryption_testapp"
    default_auto_field = "django.db.models.BigAutoField"
