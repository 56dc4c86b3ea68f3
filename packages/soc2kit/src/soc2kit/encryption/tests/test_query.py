"""The batch read path (EncryptedManager): the same values and the same errors as one call per value."""

import base64
import datetime
import sys

import pytest
from demo.customers.models import Customer
from django.db import connection

from soc2kit.encryption import keyring, query
from soc2kit.encryption.errors import DecryptionError, FieldMismatchError, UnknownKeyError
from soc2kit.encryption.keyring import get_keyring, identity_column_bytes
from soc2kit.encryption.query import DecryptingQuery, EncryptedManager

from .conftest import raw_column, write_raw
from .testapp.models import Person

pytestmark = pytest.mark.django_db

ROWS = query.CHUNK_ROWS + 21  # more than one chunk, the last one partial
FIELDS = ("full_name", "email", "national_id", "date_of_birth", "notes", "credit_limit", "is_vip")


def _expected(i: int) -> dict:
    return {
        "full_name": f"Person {i} Zoë",
        "email": f"p{i}@example.com" if i % 5 else "",
        "national_id": f"{i:03d}-45-6789",
        "date_of_birth": datetime.date(1950, 1, 1) + datetime.timedelta(days=i) if i % 3 else None,
        "notes": "n" * (i % 40),
        "credit_limit": None if i % 4 == 0 else i - 50,
        "is_vip": (None, False, True)[i % 3],
    }


@pytest.fixture
def people():
    return [Person.objects.create(**_expected(i)) for i in range(ROWS)]


def _values(person) -> dict:
    return {name: getattr(person, name) for name in FIELDS}


def test_models_with_encrypted_fields_read_through_the_batch_path():
    assert isinstance(Customer._default_manager, EncryptedManager)
    queryset = Customer.objects.filter(pk__gt=0).order_by("id")[:10]
    assert isinstance(queryset.query, DecryptingQuery)  # clones keep the class


def test_every_value_of_every_row_decrypts(people):
    loaded = list(Person.objects.order_by("id"))
    assert [_values(p) for p in loaded] == [_expected(i) for i in range(ROWS)]


def test_values_and_values_list_decrypt_too(people):
    rows = list(Person.objects.order_by("id").values_list(*FIELDS))
    assert rows == [tuple(_expected(i).values()) for i in range(ROWS)]
    assert list(Person.objects.order_by("id").values("notes", "is_vip")) == [
        {"notes": _expected(i)["notes"], "is_vip": _expected(i)["is_vip"]} for i in range(ROWS)
    ]
    assert list(Person.objects.order_by("id").iterator(chunk_size=7)) == list(Person.objects.order_by("id"))


def test_batch_equals_one_call_per_value(people):
    field = Person._meta.get_field("date_of_birth")
    convert = field.get_db_converters(connection)[0]
    tokens = tuple(raw_column(Person, "date_of_birth", p.pk) for p in people)
    identities = tuple(p.row_uuid for p in people)
    assert None in tokens
    assert (
        convert.batch(tokens, identities)
        == [convert.value(t, i) for t, i in zip(tokens, identities, strict=True)]
        == [_expected(i)["date_of_birth"] for i in range(ROWS)]
    )
    assert convert.batch((None, None)) == [None, None]


def test_a_row_bound_value_needs_its_row_identity(people):
    convert = Person._meta.get_field("notes").get_db_converters(connection)[0]
    token = raw_column(Person, "notes", people[1].pk)
    with pytest.raises(DecryptionError, match=r"Person\.notes .*bound to its row.*EncryptedManager"):
        convert(token)  # Django's per-value path knows no row
    assert convert.value(token, people[1].row_uuid) == _expected(1)["notes"]


def test_a_value_copied_to_another_row_names_table_field_and_row(people):
    source, victim = people[3], people[4]
    write_raw(Person, "national_id", victim.pk, raw_column(Person, "national_id", source.pk))
    message = (
        rf"Person\.national_id \(table encryption_testapp_person, row id {victim.pk}\).*failed authentication"
    )
    with pytest.raises(DecryptionError, match=message):
        list(Person.objects.all())
    with pytest.raises(DecryptionError, match=message):
        list(Person.objects.values_list("national_id", flat=True))  # pk and identity loaded behind the scenes
    with pytest.raises(DecryptionError, match=message):
        _ = Person.objects.only("full_name").get(pk=victim.pk).national_id  # deferred load, base manager
    assert Person.objects.get(pk=source.pk).national_id == _expected(3)["national_id"]


def test_values_queries_return_only_the_columns_asked_for(people):
    assert list(Person.objects.order_by("id").values_list("email")[:2]) == [("",), ("p1@example.com",)]
    assert list(Person.objects.order_by("id").values("email")[:1]) == [{"email": ""}]
    assert Person.objects.filter(pk__in=Person.objects.values("pk")).count() == ROWS  # subquery untouched


def _python_calls(func):
    """Run func(); return its result and the names of the keyring's Python functions it entered."""
    names = []

    def profiler(frame, event, arg):
        if event == "call" and frame.f_code.co_filename == keyring.__file__:
            names.append(frame.f_code.co_name)

    sys.setprofile(profiler)
    try:
        result = func()
    finally:
        sys.setprofile(None)
    return result, names


def test_a_column_under_one_key_takes_no_python_call_per_value(people):
    convert = Person._meta.get_field("notes").get_db_converters(connection)[0]
    tokens = tuple(raw_column(Person, "notes", p.pk) for p in people)
    identities = identity_column_bytes(p.row_uuid for p in people)  # as the query does, once per chunk
    convert.batch(tokens[:1], identities[:1])  # the first value resolves the header to its data key
    values, names = _python_calls(lambda: convert.batch(tokens, identities))
    assert values == [_expected(i)["notes"] for i in range(ROWS)]
    assert names == ["batch"]

    loaded, names = _python_calls(
        lambda: list(Person.objects.order_by("id").values_list("notes", "full_name"))
    )
    assert [row[0] for row in loaded] == values
    assert "convert" not in names  # the query went through the batch path, not one call per value


def test_rows_under_two_data_keys_in_one_chunk_decrypt(people):
    get_keyring().create_key()  # the next rows are encrypted under data key v2
    newer = [Person.objects.create(**_expected(i)) for i in range(ROWS, ROWS + 5)]
    headers = {raw_column(Person, "notes", p.pk).rsplit(":", 1)[0] for p in people + newer}
    assert len(headers) == 2
    loaded = list(Person.objects.order_by("id"))
    assert [_values(p) for p in loaded] == [_expected(i) for i in range(ROWS + 5)]


@pytest.mark.parametrize("position", [0, 60, ROWS - 1])
def test_a_value_under_another_key_anywhere_in_a_column_decrypts(people, position):
    """The column's header check looks at its smallest and largest value only (all values sharing a
    prefix sort together); a value under another key must still be found wherever it sorts."""
    get_keyring().create_key()
    other = Person.objects.create(**_expected(position))
    convert = Person._meta.get_field("notes").get_db_converters(connection)[0]
    tokens = [raw_column(Person, "notes", p.pk) for p in people]
    identities = [p.row_uuid for p in people]
    tokens[position], identities[position] = raw_column(Person, "notes", other.pk), other.row_uuid
    assert tokens[position].split(":")[1] != tokens[position - 1].split(":")[1]  # another data key
    convert.batch(tokens[:1], identities[:1])  # the column's header is known: the fast path is tried
    assert convert.batch(tokens, identities) == [_expected(i)["notes"] for i in range(ROWS)]


@pytest.mark.parametrize("position", [0, 60, ROWS - 1])
def test_a_colon_in_any_body_of_a_column_raises_the_per_value_error(people, position):
    convert = Person._meta.get_field("email").get_db_converters(connection)[0]
    tokens = [raw_column(Person, "email", p.pk) for p in people]
    identities = [p.row_uuid for p in people]
    convert.batch(tokens, identities)
    tokens[position] = tokens[position][:20] + ":" + tokens[position][20:]
    with pytest.raises(DecryptionError, match="not a field-encryption ciphertext"):
        convert.batch(tokens, identities)


def _flip_last_byte(token: str) -> str:
    header, body = token.rsplit(":", 1)
    raw = bytearray(base64.b64decode(body))
    raw[-1] ^= 0x01
    return f"{header}:{base64.b64encode(bytes(raw)).decode()}"


def test_one_tampered_value_among_many_raises_the_precise_error(people):
    victim = people[query.CHUNK_ROWS + 3]
    write_raw(Person, "notes", victim.pk, _flip_last_byte(raw_column(Person, "notes", victim.pk)))
    with pytest.raises(DecryptionError, match=r"testapp\.Person\.notes .*failed authentication"):
        list(Person.objects.all())


def test_a_value_from_another_field_among_many_names_both_fields(people):
    victim = people[5]
    write_raw(Person, "full_name", victim.pk, raw_column(Person, "national_id", victim.pk))
    with pytest.raises(
        FieldMismatchError,
        match=r"Person\.full_name \(table encryption_testapp_person, row id \d+\) was encrypted for field "
        r".*Person\.national_id",
    ):
        list(Person.objects.values_list("full_name", flat=True))


@pytest.mark.parametrize(
    ("replace", "error", "message"),
    [
        (lambda token: "plain text value", DecryptionError, "not a field-encryption ciphertext"),
        (lambda token: "ef9" + token[3:], DecryptionError, "format 'ef9'"),
        (lambda token: token[:20] + ":" + token[20:], DecryptionError, "not a field-encryption ciphertext"),
        (lambda token: token[:-8], DecryptionError, "failed authentication"),
        (lambda token: "", DecryptionError, "not a field-encryption ciphertext"),
        (
            lambda token: "ef1:1:deadbeef:" + token.rsplit(":", 1)[1],
            UnknownKeyError,
            r"names data key v1 \(deadbeef\)",
        ),
    ],
    ids=["plaintext", "format", "colon-in-body", "truncated", "empty", "unknown-key"],
)
def test_malformed_values_among_many_raise_the_per_value_error(people, replace, error, message):
    victim = people[-1]
    write_raw(Person, "email", victim.pk, replace(raw_column(Person, "email", victim.pk)))
    with pytest.raises(error, match=message):
        list(Person.objects.all())
    field = Person._meta.get_field("email")
    with pytest.raises(error, match=message):  # the per-value path, given the row
        field.converter().value(raw_column(Person, "email", victim.pk), victim.row_uuid, victim.pk)
