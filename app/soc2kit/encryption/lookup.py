"""Exact-match search on encrypted fields through their blind index, without decrypting the table."""

from __future__ import annotations

from django.core.exceptions import FieldError
from django.db.models import QuerySet

from .fields import BlindIndexField


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


def blind_lookup(queryset: QuerySet, **values) -> QuerySet:
    """blind_lookup(Customer.objects, email="A@B.com") -> rows whose normalised email matches exactly.

    Keyword names are encrypted fields (or their index fields); several keywords are ANDed.
    """
    if not values:
        raise TypeError("blind_lookup needs at least one field=value pair")
    queryset = queryset.all()
    for name, value in values.items():
        if value is None:
            raise ValueError(f"blind_lookup({name}=None): search for missing values with {name}__isnull=True")
        field = blind_index_field(queryset.model, name)
        queryset = queryset.filter(**{field.name: field.index_for(value)})
    return queryset
