"""Exact-match search by email or id number through the keyed blind index, without decrypting rows."""

import hashlib
import hmac
import io
import json

import pytest
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from soc2kit.encryption.config import load_settings
from soc2kit.encryption.errors import BlindIndexMismatchError
from soc2kit.encryption.fields import BlindIndexField, normalize_casefold, normalize_compact_upper
from soc2kit.encryption.keyring import Keyring
from soc2kit.encryption.lookup import blind_lookup
from soc2kit.encryption.management.commands.rebuild_blind_indexes import Command as RebuildCommand

from .conftest import new_key, raw_column, write_raw
from .testapp.models import Person

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return [
        Person.objects.create(full_name="Ada", email="Ada@Example.com", national_id="AB 12-34"),
        Person.objects.create(full_name="Grace", email="grace@example.com", national_id="CD5678"),
        Person.objects.create(full_name="Blank", email="", national_id=""),
    ]


def test_normalizers():
    assert normalize_casefold("  Ada@EXAMPLE.com ") == "ada@example.com"
    assert normalize_compact_upper(" ab 12-34\t") == "AB1234"


def test_lookup_by_email_ignores_case_and_spaces(people):
    field = Person._meta.get_field("email_index")
    assert list(Person.objects.filter(email_index=field.index_for(" ADA@example.COM "))) == [people[0]]
    assert list(blind_lookup(Person.objects, email="ada@example.com")) == [people[0]]
    assert not blind_lookup(Person.objects, email="nobody@example.com").exists()


def test_lookup_by_id_number_ignores_spaces_and_dashes(people):
    assert list(blind_lookup(Person.objects, national_id="ab1234")) == [people[0]]
    assert list(blind_lookup(Person.objects, national_id="CD-56 78")) == [people[1]]
    assert list(blind_lookup(Person.objects, national_id_index="cd5678", email="GRACE@example.com")) == [
        people[1]
    ]


def test_lookup_never_decrypts(people, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the lookup decrypted a value")

    monkeypatch.setattr(Keyring, "decrypt", refuse)
    pks = list(blind_lookup(Person.objects, email="grace@example.com").values_list("pk", flat=True))
    assert pks == [people[1].pk]


def test_index_is_hmac_sha256_with_the_dedicated_key(people):
    stored = raw_column(Person, "email_index", people[1].pk)
    conf = load_settings()
    field_key = hmac.new(
        conf.blind_index_keys["1"],
        b"soc2kit-blind-index:encryption_testapp.Person.email_index",
        hashlib.sha256,
    )
    # "<index key id>:<hex HMAC>": the key version travels with the value.
    assert stored == "1:" + hmac.new(field_key.digest(), b"grace@example.com", hashlib.sha256).hexdigest()
    # Not the plain hash, and different per index field for the same value.
    assert stored != hashlib.sha256(b"grace@example.com").hexdigest()
    assert Person._meta.get_field("national_id_index").index_for("x") != Person._meta.get_field(
        "email_index"
    ).index_for("x")


def test_index_changes_with_the_blind_index_key(people, settings, encryption_settings):
    before = Person._meta.get_field("email_index").index_for("grace@example.com")
    settings.FIELD_ENCRYPTION = {**encryption_settings, "BLIND_INDEX_KEY": new_key()}
    assert Person._meta.get_field("email_index").index_for("grace@example.com") != before


def test_index_column_has_a_database_index():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Person._meta.db_table)
    indexed = {tuple(c["columns"]) for c in constraints.values() if c["index"]}
    assert ("email_index",) in indexed
    assert ("national_id_index",) in indexed


def test_index_follows_updates_and_empty_values(people):
    ada = people[0]
    ada.email = "ada@new.example"
    ada.save()
    assert not blind_lookup(Person.objects, email="ada@example.com").exists()
    assert blind_lookup(Person.objects, email="ADA@new.example").get() == ada
    assert blind_lookup(Person.objects, email="").get() == people[2]


def test_partial_save_without_the_index_is_refused(people):
    ada = people[0]
    ada.email = "changed@example.com"
    with pytest.raises(ValueError, match="lists 'email' but not its blind index 'email_index'"):
        ada.save(update_fields=["email"])
    ada.save(update_fields=["email", "email_index"])
    assert blind_lookup(Person.objects, email="changed@example.com").get() == ada


def test_lookup_errors_are_clear(people):
    with pytest.raises(FieldError, match=r"Person\.full_name has no blind index"):
        blind_lookup(Person.objects, full_name="Ada")
    with pytest.raises(ValueError, match="isnull"):
        blind_lookup(Person.objects, email=None)
    with pytest.raises(ValueError, match="normalizer 'soundex' is unknown"):
        BlindIndexField(source="email", normalizer="soundex")


def _index_keys(active: str, **keys: str) -> str:
    return json.dumps({"active": active, "keys": keys})


def test_an_index_copied_from_another_row_is_caught_on_search(people):
    ada, grace = people[0], people[1]
    write_raw(Person, "email_index", ada.pk, raw_column(Person, "email_index", grace.pk))
    with pytest.raises(
        BlindIndexMismatchError,
        match=rf"Person\.email_index \(table encryption_testapp_person, row id {ada.pk}\) "
        r"is not the index of the row's email",
    ):
        list(blind_lookup(Person.objects, email="grace@example.com"))
    with pytest.raises(BlindIndexMismatchError):
        list(blind_lookup(Person.objects, email="grace@example.com").values_list("pk", flat=True))
    assert blind_lookup(Person.objects, email="grace@example.com").count() == 2  # counting decrypts nothing


def test_blind_index_key_rotation_keeps_searches_working(people, settings, encryption_settings, monkeypatch):
    old = encryption_settings["BLIND_INDEX_KEY"]
    legacy = people[2]  # an index written before index values carried their key id
    write_raw(Person, "email_index", legacy.pk, raw_column(Person, "email_index", legacy.pk).split(":", 1)[1])
    assert blind_lookup(Person.objects, email="").get() == legacy
    settings.FIELD_ENCRYPTION = {
        **encryption_settings,
        "BLIND_INDEX_KEY": _index_keys("2", **{"1": old, "2": new_key()}),
    }
    extra = Person.objects.create(full_name="New", email="new@example.com", national_id="N1")
    assert raw_column(Person, "email_index", extra.pk).startswith("2:")  # new rows: the active key
    # Before and during the rebuild, searches find rows under either key.
    assert blind_lookup(Person.objects, email="grace@example.com").get() == people[1]
    assert blind_lookup(Person.objects, email="new@example.com").get() == extra

    original = RebuildCommand._progress

    def interrupt_after_one_batch(self, label, done, total):
        original(self, label, done, total)
        if done > 0:
            raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(RebuildCommand, "_progress", interrupt_after_one_batch)
        with pytest.raises(CommandError, match=r"Interrupted.*Run 'manage\.py rebuild_blind_indexes' again"):
            call_command("rebuild_blind_indexes", "--batch-size", "2", stdout=io.StringIO())
    prefixes = {raw_column(Person, "email_index", p.pk)[:2] for p in people}
    assert "2:" in prefixes  # half done
    assert prefixes != {"2:"}
    assert blind_lookup(Person.objects, email="ADA@example.com").get() == people[0]
    assert blind_lookup(Person.objects, national_id="cd 5678").get() == people[1]

    out = io.StringIO()
    call_command("rebuild_blind_indexes", "--batch-size", "2", stdout=out)
    assert "encryption_testapp.Person: 1/1 rows re-indexed" in out.getvalue()
    assert "index key(s) ['1'] can now be removed" in out.getvalue()
    for person in [*people, extra]:
        for column in ("email_index", "national_id_index"):
            assert raw_column(Person, column, person.pk).startswith("2:")
    settings.FIELD_ENCRYPTION = {
        **settings.FIELD_ENCRYPTION,
        "BLIND_INDEX_KEY": _index_keys(
            "2", **{"2": json.loads(settings.FIELD_ENCRYPTION["BLIND_INDEX_KEY"])["keys"]["2"]}
        ),
    }
    assert blind_lookup(Person.objects, email="grace@example.com").get() == people[1]
    assert blind_lookup(Person.objects, email="").get() == legacy
