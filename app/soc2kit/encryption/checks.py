"""System checks: `manage.py check` fails early on bad FIELD_ENCRYPTION settings or blind-index wiring."""

from django.apps import apps
from django.core import checks

from .config import load_settings
from .errors import KeyConfigurationError


@checks.register(checks.Tags.security)
def check_field_encryption_settings(app_configs, **kwargs):
    try:
        load_settings()
    except KeyConfigurationError as exc:
        return [
            checks.Error(
                str(exc),
                hint="Fix the FIELD_ENCRYPTION_* environment variables or Secrets Manager entries.",
                id="encryption.E001",
            )
        ]
    return []


@checks.register(checks.Tags.models)
def check_blind_index_sources(app_configs, **kwargs):
    from .fields import BlindIndexField

    errors = []
    for model in apps.get_models():
        names = {f.name for f in model._meta.concrete_fields}
        for field in model._meta.concrete_fields:
            if isinstance(field, BlindIndexField) and field.source not in names:
                errors.append(
                    checks.Error(
                        f"{model._meta.label}.{field.name} indexes {field.source!r}, "
                        "which is not a field of the model",
                        obj=field,
                        id="encryption.E002",
                    )
                )
    return errors
