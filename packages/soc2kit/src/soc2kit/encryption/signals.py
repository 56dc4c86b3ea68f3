"""Keeps the keyring in step with settings changes (tests) and blind indexes in step with partial saves."""

from django.core.signals import setting_changed
from django.db.models.signals import pre_save
from django.dispatch import receiver

from .keyring import reset_keyring


@receiver(setting_changed)
def _reset_on_settings_change(setting, **kwargs):
    if setting == "FIELD_ENCRYPTION":
        reset_keyring()


@receiver(pre_save)
def _refuse_stale_blind_index(sender, instance, update_fields=None, **kwargs):
    """save(update_fields=[...]) skips pre_save of fields not listed, so a blind index would go stale."""
    if not update_fields:
        return
    from .fields import BlindIndexField

    for field in sender._meta.concrete_fields:
        if (
            isinstance(field, BlindIndexField)
            and field.source in update_fields
            and field.name not in update_fields
        ):
            raise ValueError(
                f"{sender._meta.label}.save(update_fields=...) lists {field.source!r} "
                "but not its blind index "
                f"{field.name!r}; add {field.name!r} so exact-match search stays correct"
            )
