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


@checks.register(checks.Tags.models)
def check_row_bound_models_read_through_the_encrypted_manager(app_configs, **kwargs):
    """Row-bound values decrypt only with their row identity, which EncryptedManager's queries load."""
    from .fields import RowIdentityField
    from .query import EncryptedManager

    errors = []
    for model in apps.get_models():
        identities = [f for f in model._meta.concrete_fields if isinstance(f, RowIdentityField)]
        if len(identities) > 1:
            errors.append(
                checks.Error(
                    f"{model._meta.label} has {len(identities)} RowIdentityFields; a row has one identity",
                    obj=model,
                    id="encryption.E004",
                )
            )
        if identities and not (
            isinstance(model._default_manager, EncryptedManager)
            and isinstance(model._base_manager, EncryptedManager)
        ):
            errors.append(
                checks.Error(
                    f"{model._meta.label} binds its encrypted values to {identities[0].name}, but its "
                    "default or base manager is not an EncryptedManager, so its reads cannot decrypt them",
                    hint="Set objects = EncryptedManager() and Meta.base_manager_name = 'objects'.",
                    obj=model,
                    id="encryption.E003",
                )
            )
    return errors
