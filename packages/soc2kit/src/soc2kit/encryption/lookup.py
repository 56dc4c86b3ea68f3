"""Exact-match search on encrypted fields through their blind index, without decrypting the table."""

from __future__ import annotations

from django.core.exceptions import FieldError
from django.db.models import Manager, QuerySet

from .fields import BlindIndexField
from .query import DecryptingQuery


def blind_index_field(model, name: str) -> BlindIndexField:
    """The BlindIndexField for `name`: either the index field itself or the encrypted field it indexes."""
    for field in model._meta.concrete_fields:
        if isinstance(field, BlindIndexField) and name in (field.name, field.source):
            return field
    raise FieldError(
        f"{model._meta.label}.{name} has no blind index; "
        f"add BlindIndexField(source={name!r}, normalizer=...) "
        "to search it by exact value"
    )


def blind_lookup(queryset: QuerySet | Manager, **values) -> QuerySet:
    """blind_lookup(Customer.objects, email="A@B.com") -> rows whose normalised email matches exactly.

    Keyword names are encrypted fields (or their index fields); several keywords are ANDed. The index is
    looked up under every configured index key, so searches keep working while rebuild_blind_indexes
    runs. On an EncryptedManager queryset every row found is checked: its stored index must be the
    index of its own decrypted value (an index copied from another row raises BlindIndexMismatchError).
    """
    if not values:
        raise TypeError("blind_lookup needs at least one field=value pair")
    queryset = queryset.all()
    for name, value in values.items():
        if value is None:
            raise ValueError(f"blind_lookup({name}=None): search for missing values with {name}__isnull=True")
        field = blind_index_field(queryset.model, name)
        queryset = queryset.filter(**{f"{field.name}__in": field.candidates_for(value)})
        if isinstance(queryset.query, DecryptingQuery):
            queryset.query.verified_blind_indexes = (*queryset.query.verified_blind_indexes, field.name)
    return queryset
