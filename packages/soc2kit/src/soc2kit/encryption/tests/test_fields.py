"""Encrypted fields: the database holds only ciphertext, and every value type round-trips exactly."""

import datetime

import pytest
from django.core.exceptions import FieldError, ValidationError
from django.db import transaction
from django.db.models import Field

from soc2kit.encryption.errors import EncryptionError
from soc2kit.encryption.models import DataKey

from .conftest import raw_column
from .testapp.models import Note, Person

pytestmark = pytest.mark.django_db

EDGE_VALUES: dict[str, list[object]] = {
    "full_name": ["", "Zoë Ångström-李", "x" * 200, " leading and trailing "],
    "email": ["", "A.Person+tag@Example.COM"],
    "national_id": ["", "AB 12-34-56"],
    "date_of_birth": [None, datetime.date(1, 1, 1), datetime.date(9999, 12, 31), datetime.date(1990, 2, 28)],
    "notes": ["", "line one\nline two\ttab \x00 nul? no: \u2603 " * 500, "{'looks': 'like json'}"],
    "credit_limit": [None, 0, -1, 2**31 - 1, -(2**31)],
    "is_vip": [None, False, True],
}


def _person(**values):
    defaults = {"full_name": "Ada Lovelace", "email": "ada@example.com", "national_id": "X1"}
    return Person.objects.create(**{**defaults, **values})


def test_raw_database_values_are_versioned_ciphertext():
    person = _person(
        full_name="Ada Lovelace",
        email="ada@example.com",
        national_id="123-45-6789",
        date_of_birth=datetime.date(1815, 12, 10),
        notes="analytical engine",
        credit_limit=1234,
        is_vip=True,
    )
    key = DataKey.objects.get()
    for column, plaintext in [
        ("full_name", "Ada Lovelace"),
        ("email", "ada@example.com"),
        ("national_id", "123-45-6789"),
        ("date_of_birth", "1815-12-10"),
        ("notes", "analytical engine"),
        ("credit_limit", "1234"),
        ("is_vip", "1"),
    ]:
        raw = raw_column(Person, column, person.pk)
        assert raw.startswith(f"ef2:{key.version}:{key.key_id}:"), column
        body = raw.split(":", 3)[3]
        assert len(body) >= 40, column  # nonce + tag alone are 28 bytes
        assert raw != plaintext, column
        if len(plaintext) > 3:
            assert plaintext not in body, column
    # The blind index is an HMAC, not the email.
    assert "ada" not in raw_column(Person, "email_index", person.pk)


def test_ciphertext_is_randomised():
    first, second = _person(full_name="Same"), _person(full_name="Same")
    assert raw_column(Person, "full_name", first.pk) != raw_column(Person, "full_name", second.pk)


@pytest.mark.parametrize(("field", "value"), [(f, v) for f, values in EDGE_VALUES.items() for v in values])
def test_round_trip(field, value):
    person = _person(**{field: value})
    loaded = Person.objects.get(pk=person.pk)
    assert getattr(loaded, field) == value
    assert type(getattr(loaded, field)) is type(value)
    assert Person.objects.filter(pk=person.pk).values_list(field, flat=True).get() == value


def test_none_is_stored_as_null_and_empty_values_are_not():
    person = _person(email="", notes="", date_of_birth=None, credit_limit=0, is_vip=False)
    assert raw_column(Person, "date_of_birth", person.pk) is None
    for column in ("email", "notes", "credit_limit", "is_vip"):
        assert raw_column(Person, column, person.pk).startswith("ef2:"), column
    loaded = Person.objects.get(pk=person.pk)
    assert (loaded.email, loaded.notes, loaded.credit_limit, loaded.is_vip) == ("", "", 0, False)
    assert Person.objects.filter(date_of_birth__isnull=True).count() == 1
    assert Person.objects.filter(is_vip__isnull=False).count() == 1


def test_update_reencrypts():
    person = _person(notes="first")
    before = raw_column(Person, "notes", person.pk)
    person.notes = "second"
    person.save()
    assert raw_column(Person, "notes", person.pk) != before
    person.refresh_from_db()
    assert person.notes == "second"


def test_queryset_update_encrypts_on_a_model_without_row_identity():
    note = Note.objects.create(body="first")
    Note.objects.filter(pk=note.pk).update(body="set by update()")
    assert "set by update" not in raw_column(Note, "body", note.pk)
    assert Note.objects.get(pk=note.pk).body == "set by update()"


def test_queryset_update_of_a_row_bound_field_is_refused():
    person = _person(notes="kept")
    # Both run in a savepoint: Django marks the transaction for rollback when a write fails.
    with (
        pytest.raises(EncryptionError, match=r"Person\.notes is bound to its row.*save\(\) or bulk_create"),
        transaction.atomic(),
    ):
        Person.objects.filter(pk=person.pk).update(notes="set by update()")
    person.notes = "bulk"
    with pytest.raises(EncryptionError, match="bound to its row"), transaction.atomic():
        Person.objects.bulk_update([person], ["notes"])
    assert Person.objects.get(pk=person.pk).notes == "kept"


def test_bulk_create_binds_each_value_to_its_row():
    first, second = Person.objects.bulk_create(
        [Person(full_name="One", email="one@example.com"), Person(full_name="Two", email="two@example.com")]
    )
    assert first.row_uuid != second.row_uuid
    assert [p.full_name for p in Person.objects.order_by("id")] == ["One", "Two"]


def test_filtering_encrypted_columns_is_refused_with_a_hint():
    with pytest.raises(FieldError, match=r"encryption_testapp\.Person\.email is encrypted.*BlindIndexField"):
        Person.objects.filter(email="ada@example.com")
    with pytest.raises(FieldError, match="cannot be filtered with 'icontains'"):
        # As a dict: django-stubs' plugin runs get_lookup() while type-checking and crashes on its FieldError.
        Person.objects.filter(**{"notes__icontains": "x"})


def test_plaintext_validation_still_applies():
    person = Person(full_name="x" * 201, email="not-an-email", national_id="1")
    with pytest.raises(ValidationError) as excinfo:
        person.full_clean()
    assert set(excinfo.value.message_dict) >= {"full_name", "email"}


def test_binding_pins_the_associated_data():
    note = Note.objects.create(body="b", pinned_body="p")
    assert Note._meta.get_field("pinned_body").encryption_label == "legacy_app.OldNote.body"
    assert Note.objects.get(pk=note.pk).pinned_body == "p"


def test_field_repr_and_datakey_str_hold_no_secrets():
    person = _person(email="secret@example.com")
    assert "secret" not in repr(Person._meta.get_field("email"))
    key = DataKey.objects.get()
    assert bytes(key.wrapped_key).hex() not in str(key)
    assert "secret" not in repr(person)


def test_deconstruct_round_trips():
    for name in ("full_name", "email_index", "national_id_index"):
        field = Person._meta.get_field(name)
        assert isinstance(field, Field)
        _, path, args, kwargs = field.deconstruct()
        clone = field.__class__(*args, **kwargs)
        assert clone.deconstruct()[1:] == (path, args, kwargs)
    pinned_body = Note._meta.get_field("pinned_body")
    assert isinstance(pinned_body, Field)
    _, _, _, kwargs = pinned_body.deconstruct()
    assert kwargs["binding"] == "legacy_app.OldNote.body"
