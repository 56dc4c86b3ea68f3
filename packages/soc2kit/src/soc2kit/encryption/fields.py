"""Model fields that encrypt on write and decrypt on read, and the blind index for exact-match search.

    full_name = EncryptedCharField(max_length=200)
    email = EncryptedEmailField()
    email_index = BlindIndexField(source="email", normalizer="email")

The column is `text` holding the versioned ciphertext (see keyring.py). None stays NULL; "", 0 and
False are encrypted like any other value and come back as themselves. Encrypted columns cannot be
filtered (the ciphertext is randomised): search through a BlindIndexField instead.

A model with a RowIdentityField binds every encrypted value to its row: a value copied into another
row fails authentication. Such values are written only through save()/bulk_create() (which know the
row) and read only through EncryptedManager (which loads the row identity with them).
"""

from __future__ import annotations

import datetime
import hmac
import re
import unicodedata
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import FieldError
from django.db import models

from . import keyring
from .errors import EncryptionError
from .keyring import FIELD_LABELS, get_keyring, identity_bytes

_UNSET = object()


class RowIdentityField(models.UUIDField):
    """The stable identity every encrypted value of its row is bound to: a random UUID assigned when the
    instance is created (before insert), unique, never edited. One per model; the model's encrypted
    fields find it themselves."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default", uuid.uuid4)
        kwargs.setdefault("unique", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        for key, default in (("default", uuid.uuid4), ("unique", True), ("editable", False)):
            if kwargs.get(key, _UNSET) == default:
                del kwargs[key]
        return name, path, args, kwargs


def row_identity_field(model) -> RowIdentityField | None:
    """The model's RowIdentityField, or None (its encrypted values are bound to their field only)."""
    found = [f for f in model._meta.concrete_fields if isinstance(f, RowIdentityField)]
    return found[0] if found else None


class SealedValue(str):
    """A ciphertext made in pre_save, where the row is known; get_db_prep_value passes it through."""


ALLOWED_LOOKUPS = frozenset({"isnull"})

# For the type checker the mixin is the Field it is mixed into (its super() calls reach that Field).
if TYPE_CHECKING:
    _FieldBase = models.Field[Any, Any]
else:
    _FieldBase = object


class EncryptedFieldMixin(_FieldBase):
    """Shared by every encrypted field. Subclasses define to_text/from_text for their value type."""

    def __init__(self, *args, binding: str | None = None, **kwargs):
        # `binding` pins the associated data to a fixed label, so the model or field can be renamed later
        # without making existing ciphertexts unreadable.
        self.binding = binding
        super().__init__(*args, **kwargs)

    def contribute_to_class(self, cls, name, *args, **kwargs):
        super().contribute_to_class(cls, name, *args, **kwargs)
        if not cls._meta.abstract:
            self.encryption_label = self.binding or f"{cls._meta.label}.{name}"
            FIELD_LABELS.add(self.encryption_label)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.binding is not None:
            kwargs["binding"] = self.binding
        return name, path, args, kwargs

    def db_type(self, connection):
        return "text"

    def cast_db_type(self, connection):
        return "text"

    def get_lookup(self, lookup_name):
        if lookup_name not in ALLOWED_LOOKUPS:
            raise FieldError(
                f"{getattr(self, 'encryption_label', self.name)} is encrypted and cannot be filtered with "
                f"'{lookup_name}' (ciphertexts are randomised); add a BlindIndexField for exact-match search"
            )
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name):
        return None  # no transforms (lower, year, ...) on ciphertext

    def to_text(self, value) -> str:
        return str(value)

    from_text: Callable[[str], object] | None = None  # text -> value; None for string fields

    @property
    def row_identity(self) -> RowIdentityField | None:
        found = self.__dict__.get("_row_identity", _UNSET)
        if found is _UNSET:
            found = self.__dict__["_row_identity"] = row_identity_field(self.model)
        return found

    def _plaintext(self, value) -> str | None:
        value = super().get_prep_value(value)
        return None if value is None else self.to_text(value)

    def pre_save(self, model_instance, add):
        if self.row_identity is None:
            return super().pre_save(model_instance, add)  # get_db_prep_value encrypts, bound to the field
        text = self._plaintext(getattr(model_instance, self.attname))
        if text is None:
            return None
        identity = getattr(model_instance, self.row_identity.attname)
        if identity is None:
            raise EncryptionError(
                f"{self.encryption_label}: {self.model._meta.label}.{self.row_identity.name} is empty; "
                "a row-bound value needs its row identity before it is written"
            )
        return SealedValue(get_keyring().encrypt(text, self.encryption_label, identity_bytes(identity)))

    def get_prep_value(self, value):
        if isinstance(value, SealedValue):
            return str(value)
        text = self._plaintext(value)
        if text is None:
            return None
        if self.row_identity is not None:
            raise EncryptionError(
                f"{self.encryption_label} is bound to its row, and this write does not say which row: "
                "write it through save() or bulk_create(), not QuerySet.update() or bulk_update()"
            )
        return get_keyring().encrypt(text, self.encryption_label)

    def get_db_prep_value(self, value, connection, prepared=False):
        # Skip the parent's DB adaptation (dates, decimals): the column holds text.
        return value if prepared else self.get_prep_value(value)

    def converter(self) -> keyring.Converter:
        """The keyring's converter for this column (see Keyring.converter)."""
        return (keyring._keyring or get_keyring()).converter(
            self.encryption_label, self.from_text, self.model._meta.db_table, self.row_identity is not None
        )

    def from_db_value(self, value, expression, connection):
        return self.converter()(value)

    def get_db_converters(self, connection):
        # A plain function per value read instead of from_db_value's method chain: this is the cost every
        # list view pays once per encrypted column and row.
        return [self.converter()]


class EncryptedCharField(EncryptedFieldMixin, models.CharField):
    """max_length limits the plaintext (validated in forms/full_clean); the column is unbounded text."""


class EncryptedTextField(EncryptedFieldMixin, models.TextField):
    pass


class EncryptedEmailField(EncryptedFieldMixin, models.EmailField):
    pass


class EncryptedDateField(EncryptedFieldMixin, models.DateField):
    def to_text(self, value: datetime.date) -> str:
        return value.isoformat()

    from_text = staticmethod(datetime.date.fromisoformat)  # a builtin: no Python call per value


class EncryptedIntegerField(EncryptedFieldMixin, models.IntegerField):
    def to_text(self, value: int) -> str:
        return str(int(value))

    def from_text(self, text: str) -> int:
        return int(text)


class EncryptedBooleanField(EncryptedFieldMixin, models.BooleanField):
    def to_text(self, value: bool) -> str:
        return "1" if value else "0"

    def from_text(self, text: str) -> bool:
        return text == "1"


# -- blind index ---------------------------------------------------------------------------------------


def normalize_exact(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def normalize_casefold(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().casefold()


def normalize_compact_upper(value: str) -> str:
    """Identity numbers: drop whitespace and dashes, upper-case ("ab 12-34" -> "AB1234")."""
    return re.sub(r"[\s\-]+", "", unicodedata.normalize("NFKC", value)).upper()


NORMALIZERS: dict[str, Callable[[str], str]] = {
    "exact": normalize_exact,
    "email": normalize_casefold,
    "casefold": normalize_casefold,
    "compact_upper": normalize_compact_upper,
}


MAX_INDEX_LENGTH = 80  # "<key id, up to 8>:" + 64 hex digits


class BlindIndexField(models.CharField):
    """HMAC-SHA256 (keyed with FIELD_ENCRYPTION_BLIND_INDEX_KEY) of the normalised source value, stored
    as "<index key id>:<hex>" so the index key can be rotated (rebuild_blind_indexes).

    Filled on save from `source`; None when the source is None. Equal normalised values give equal
    indexes, so `filter(email_index=field.index_for(value))` finds rows without decrypting anything;
    blind_lookup() also finds values under older index keys while a rebuild runs.
    """

    def __init__(self, *args, source: str, normalizer: str | Callable[[str], str] = "exact", **kwargs):
        if isinstance(normalizer, str) and normalizer not in NORMALIZERS:
            raise ValueError(
                f"BlindIndexField normalizer {normalizer!r} is unknown; use one of {sorted(NORMALIZERS)}"
            )
        self.source = source
        self.normalizer = normalizer
        kwargs.setdefault("max_length", MAX_INDEX_LENGTH)
        kwargs.setdefault("db_index", True)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def contribute_to_class(self, cls, name, *args, **kwargs):
        super().contribute_to_class(cls, name, *args, **kwargs)
        self.index_label = f"{cls._meta.label}.{name}"

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        kwargs["normalizer"] = self.normalizer
        defaults = {
            "max_length": MAX_INDEX_LENGTH,
            "db_index": True,
            "editable": False,
            "null": True,
            "blank": True,
        }
        for key, default in defaults.items():
            if key in kwargs and kwargs[key] == default:
                del kwargs[key]
        return name, path, args, kwargs

    def normalize(self, value) -> str:
        func = NORMALIZERS[self.normalizer] if isinstance(self.normalizer, str) else self.normalizer
        return func(value if isinstance(value, str) else str(value))

    def index_for(self, value) -> str | None:
        """The index of a plaintext value under the active index key, for filter(); None for None."""
        if value is None:
            return None
        return get_keyring().blind_index(self.index_label, self.normalize(value))

    def candidates_for(self, value) -> list[str]:
        """Every stored form of the value's index under a configured index key (searches during a rebuild)."""
        return get_keyring().blind_index_candidates(self.index_label, self.normalize(value))

    def matches(self, stored: str | None, value) -> bool:
        """Does the stored index belong to this plaintext value (under any configured index key)?"""
        if stored is None or value is None:
            return stored is None and value is None
        return any(hmac.compare_digest(stored, candidate) for candidate in self.candidates_for(value))

    def pre_save(self, model_instance, add):
        value = self.index_for(getattr(model_instance, self.source))
        setattr(model_instance, self.attname, value)
        return value
