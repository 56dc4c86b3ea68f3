"""The protected domain: customer records whose personal fields are encrypted at rest."""

from django.db import models
from soc2kit.encryption.fields import (
    BlindIndexField,
    EncryptedCharField,
    EncryptedDateField,
    EncryptedEmailField,
    EncryptedTextField,
    RowIdentityField,
)
from soc2kit.encryption.query import EncryptedManager

# Field names whose values are personal data; used for masking and to keep them out of audit/logs.
SENSITIVE_FIELDS = ("full_name", "email", "national_id", "date_of_birth", "notes")


class Customer(models.Model):
    row_uuid = RowIdentityField()  # every encrypted value is bound to it: a value copied to another row fails
    full_name = EncryptedCharField(max_length=200)
    email = EncryptedEmailField()
    email_index = BlindIndexField(source="email", normalizer="email")  # casefold + strip
    national_id = EncryptedCharField(max_length=32)
    national_id_index = BlindIndexField(source="national_id", normalizer="compact_upper")
    date_of_birth = EncryptedDateField(null=True, blank=True)
    notes = EncryptedTextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EncryptedManager()  # list reads decrypt a chunk of rows at a time

    class Meta:
        ordering = ("id",)
        base_manager_name = "objects"  # refresh_from_db and deferred fields read with the row identity
        permissions = (
            ("view_customer_full", "Can view customer personal data unmasked"),
            # Exact-match search confirms guessed values, so it is granted apart from reading.
            ("search_customer", "Can search customers by exact e-mail or national id"),
        )

    def __str__(self) -> str:  # never the personal values: this shows up in logs, admin and errors
        return f"Customer #{self.pk}"

    def __repr__(self) -> str:
        return f"<Customer #{self.pk}>"
