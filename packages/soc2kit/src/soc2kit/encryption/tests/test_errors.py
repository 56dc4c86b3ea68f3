"""Tampering, wrong keys, misplaced ciphertexts and unknown keys raise clear errors, never garbage."""

import base64

import pytest
from django.db import transaction

from soc2kit.encryption.errors import DecryptionError, FieldMismatchError, UnknownKeyError
from soc2kit.encryption.keyring import check_keys_loadable, get_keyring, reset_keyring
from soc2kit.encryption.models import DataKey

from .conftest import local_keks, new_key, raw_column, write_raw
from .testapp.models import Note, Person

pytestmark = pytest.mark.django_db

SECRET = "do-not-print-me-123"


def _stored(**values):
    person = Person.objects.create(full_name="Grace", email="grace@example.com", national_id=SECRET, **values)
    return person, raw_column(Person, "national_id", person.pk)


def _flip_byte(token: str, index: int) -> str:
    header, body = token.rsplit(":", 1)
    raw = bytearray(base64.b64decode(body))
    raw[index] ^= 0x01
    return f"{header}:{base64.b64encode(bytes(raw)).decode()}"


@pytest.mark.parametrize(
    "index", [0, 11, 12, 20, -1], ids=["nonce-first", "nonce-last", "ct-first", "ct", "tag-last"]
)
def test_flipped_byte_raises_decryption_error(index):
    person, token = _stored()
    write_raw(Person, "national_id", person.pk, _flip_byte(token, index))
    with pytest.raises(
        DecryptionError, match=r"encryption_testapp\.Person\.national_id.*failed authentication"
    ) as exc:
        Person.objects.get(pk=person.pk)
    assert SECRET not in str(exc.value)


def test_truncated_ciphertext_raises_decryption_error():
    person, token = _stored()
    write_raw(Person, "national_id", person.pk, token[:-8])
    with pytest.raises(DecryptionError, match="failed authentication"):
        Person.objects.get(pk=person.pk)


def test_plaintext_in_an_encrypted_column_is_refused():
    person, _token = _stored()
    write_raw(Person, "national_id", person.pk, SECRET)
    with pytest.raises(DecryptionError, match="not a field-encryption ciphertext") as exc:
        Person.objects.get(pk=person.pk)
    assert SECRET not in str(exc.value)


def test_unknown_format_version_is_named():
    person, token = _stored()
    write_raw(Person, "national_id", person.pk, "ef9" + token[3:])
    with pytest.raises(DecryptionError, match="format 'ef9'"):
        Person.objects.get(pk=person.pk)


def test_ciphertext_from_another_field_names_both_fields():
    person, token = _stored()
    write_raw(Person, "full_name", person.pk, token)  # national_id's ciphertext pasted into full_name
    with pytest.raises(FieldMismatchError) as exc:
        Person.objects.get(pk=person.pk)
    message = str(exc.value)
    assert "encryption_testapp.Person.full_name" in message
    assert "encrypted for field encryption_testapp.Person.national_id" in message
    assert SECRET not in message


def test_ciphertext_from_another_table_is_refused():
    person, token = _stored()
    note = Note.objects.create(body="x")
    write_raw(Note, "body", note.pk, token)
    with pytest.raises(
        FieldMismatchError, match=r"Note\.body .*bound to a row of a model with a RowIdentityField"
    ):
        Note.objects.get(pk=note.pk)
    assert Person.objects.get(pk=person.pk).national_id == SECRET


def test_unknown_key_id_is_named():
    person, token = _stored()
    _fmt, version, _key_id, body = token.split(":", 3)
    write_raw(Person, "national_id", person.pk, f"ef1:{version}:deadbeef:{body}")
    with pytest.raises(
        UnknownKeyError,
        match=rf"national_id \(table encryption_testapp_person, row id {person.pk}\) names data key v1 "
        r"\(deadbeef\).*not in the keyring",
    ):
        Person.objects.get(pk=person.pk)


def test_header_with_wrong_version_for_a_known_key_is_refused():
    person, token = _stored()
    _fmt, _version, key_id, body = token.split(":", 3)
    write_raw(Person, "national_id", person.pk, f"ef1:7:{key_id}:{body}")
    with pytest.raises(UnknownKeyError, match="as version 7"):
        Person.objects.get(pk=person.pk)


def test_wrong_kek_cannot_unwrap_and_never_returns_garbage(settings, encryption_settings):
    person, _token = _stored()
    # Same key id, different key material: the stored data key no longer unwraps.
    settings.FIELD_ENCRYPTION = {**encryption_settings, "LOCAL_KEKS": local_keks("k1", k1=new_key())}
    with pytest.raises(DecryptionError, match="local KEK 'k1' cannot unwrap data key"):
        Person.objects.get(pk=person.pk)
    with pytest.raises(DecryptionError):
        check_keys_loadable()


def test_missing_kek_id_is_named(settings, encryption_settings):
    person, _token = _stored()
    settings.FIELD_ENCRYPTION = {**encryption_settings, "LOCAL_KEKS": local_keks("k2", k2=new_key())}
    with pytest.raises(UnknownKeyError, match=r"wrapped by local KEK 'k1'.*rewrap_field_keys"):
        Person.objects.get(pk=person.pk)


def test_wrong_data_key_raises(settings):
    person, _token = _stored()
    key = DataKey.objects.get()
    # Replace the stored data key with another valid one under the same id: authentication must fail.
    ring = get_keyring()
    _plain, wrapped = ring.keks.active.generate(key.key_id)
    DataKey.objects.filter(pk=key.pk).update(wrapped_key=wrapped.blob)
    reset_keyring()
    with pytest.raises(DecryptionError, match="failed authentication"):
        Person.objects.get(pk=person.pk)


def test_swapped_wrapped_key_between_rows_does_not_unwrap():
    _stored()
    ring = get_keyring()
    second = ring.create_key()
    first = DataKey.objects.get(version=1)
    DataKey.objects.filter(pk=second.pk).update(wrapped_key=bytes(first.wrapped_key))
    reset_keyring()
    with pytest.raises(DecryptionError, match="cannot unwrap data key"):
        get_keyring().get(second.key_id, "2")


def test_check_keys_loadable_before_and_after_the_first_key():
    check_keys_loadable()  # no data key yet: proves the KEK with a round trip, stores nothing
    assert not DataKey.objects.exists()
    _stored()
    reset_keyring()
    check_keys_loadable()


def test_data_key_survives_a_rolled_back_transaction():
    # The first value written creates the data key; the transaction that wrote it then rolls back.
    def write_then_fail():
        with transaction.atomic():
            Person.objects.create(full_name="Gone", email="gone@example.com", national_id="1")
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError, match="roll back"):
        write_then_fail()
    assert not Person.objects.exists()
    assert DataKey.objects.count() == 1  # committed on its own connection, not rolled back
    person, _token = _stored()  # encrypted with the cached key
    reset_keyring()  # a new process must still find that key
    assert Person.objects.get(pk=person.pk).national_id == SECRET
