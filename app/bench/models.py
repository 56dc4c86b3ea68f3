"""Three copies of the Customer record shape: plain columns, our encrypted fields, and
django-fernet-encrypted-fields, so the benchmark compares them on the same rows."""

from django.db import models
from encrypted_fields import fields as fernet
from soc2kit.encryption import fields as ours
from soc2kit.encryption.query import EncryptedManager


class PlainCustomer(models.Model):
    full_name = models.CharField(max_length=200)
    email = models.EmailField(db_index=True)
    national_id = models.CharField(max_length=32, db_index=True)
    date_of_birth = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"PlainCustomer #{self.pk}"


class EncryptedCustomer(models.Model):
    """Field for field the same as demo.customers.models.Customer (values bound to their row)."""

    row_uuid = ours.RowIdentityField()
    full_name = ours.EncryptedCharField(max_length=200)
    email = ours.EncryptedEmailField()
    email_index = ours.BlindIndexField(source="email", normalizer="email")
    national_id = ours.EncryptedCharField(max_length=32)
    national_id_index = ours.BlindIndexField(source="national_id", normalizer="compact_upper")
    date_of_birth = ours.EncryptedDateField(null=True, blank=True)
    notes = ours.EncryptedTextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EncryptedManager()

    class Meta:
        base_manager_name = "objects"

    def __str__(self) -> str:
        return f"EncryptedCustomer #{self.pk}"


class FieldBoundCustomer(models.Model):
    """EncryptedCustomer without a RowIdentityField: values bound to their field only (ef1). Not part of
    `make bench`; bench.row_binding lists it beside EncryptedCustomer to measure what row binding costs."""

    full_name = ours.EncryptedCharField(max_length=200)
    email = ours.EncryptedEmailField()
    email_index = ours.BlindIndexField(source="email", normalizer="email")
    national_id = ours.EncryptedCharField(max_length=32)
    national_id_index = ours.BlindIndexField(source="national_id", normalizer="compact_upper")
    date_of_birth = ours.EncryptedDateField(null=True, blank=True)
    notes = ours.EncryptedTextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EncryptedManager()

    def __str__(self) -> str:
        return f"FieldBoundCustomer #{self.pk}"


class FernetCustomer(models.Model):
    full_name = fernet.EncryptedCharField(max_length=200)
    email = fernet.EncryptedEmailField()
    national_id = fernet.EncryptedCharField(max_length=32)
    date_of_birth = fernet.EncryptedDateField(null=True, blank=True)
    notes = fernet.EncryptedTextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"FernetCustomer #{self.pk}"


MODELS = {"plain": PlainCustomer, "encrypted": EncryptedCustomer, "fernet": FernetCustomer}
LISTED = {**MODELS, "field_bound": FieldBoundCustomer}  # what /bench/<kind>/ serves
