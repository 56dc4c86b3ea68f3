from django.apps import AppConfig


class EncryptionConfig(AppConfig):
    name = "soc2kit.encryption"
    label = "encryption"
    verbose_name = "Field encryption"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, signals  # noqa: F401 - registers system checks and signal receivers
