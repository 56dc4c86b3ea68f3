from django.db import models

from soc2kit.encryption.fields import (
    BlindIndexField,
    EncryptedBooleanField,
    EncryptedCharField,
    EncryptedDateField,
    EncryptedEmailField,
    EncryptedIntegerField,
    EncryptedTextField,
    RowIdentityField,
)
from soc2kit.encryption.query import EncryptedManager


class Person(models.Model):
    """Mirrors the shape of the Customer model in the contract, with every field type; row-bound."""

    row_uuid = RowIdentityField()
    full_name = EncryptedCharField(max_length=200)
    email = EncryptedEmailField(blank=True)
    email_index = BlindIndexField(source="email", normalizer="email")
    national_id = EncryptedCharField(max_length=32, blank=True)
    national_id_index = BlindIndexField(source="national_id", normalizer="compact_upper")
    date_of_birth = EncryptedDateField(null=True, blank=True)
    notes = EncryptedTextField(blank=True)
    credit_limit = EncryptedIntegerField(null=True, blank=True)
    is_vip = EncryptedBooleanField(null=True, blank=True)

    objects = EncryptedManager()  # reads take the batch path; Note keeps Django's per-value converters

    class Meta:
        base_manager_name = "objects"  # refresh_from_db and deferred fields read with the row identity

    def __str__(self) -> str:
        return f"Person {self.pk}"  # never the decrypted values


class Note(models.Model):
    """A second table, so rotation is proven across models (default manager: per-value converters).

    No RowIdentityField: its values are bound to their field only (format ef1)."""

    body = EncryptedTextField()
    pinned_body = EncryptedTextField(null=True, binding="legacy_app.OldNote.body")

    def __str__(self) -> str:
        return f"Note {self.pk}"


class Contact(models.Model):
    """A model half-way through adopting encryption: the plaintext `email` and its encrypted twin."""

    row_uuid = RowIdentityField()
    email = models.CharField(max_length=200, blank=True)
    email_encrypted = EncryptedEmailField(null=True, blank=True)

    objects = EncryptedManager()

    class Meta:
        base_manager_name = "objects"

    def __str__(self) -> str:
        return f"Contact {self.pk}"
