"""Key rotation: batches, progress, resume after interruption, every row readable throughout."""

import io
import json
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from soc2kit.encryption.errors import DecryptionError
from soc2kit.encryption.keyring import get_keyring, reset_keyring
from soc2kit.encryption.management.commands.rotate_field_keys import Command as RotateCommand
from soc2kit.encryption.models import DataKey
from soc2kit.encryption.rotation import encrypted_tables, retire_unused_keys

from .conftest import local_keks, new_key, raw_column, write_raw
from .testapp.models import Note, Person

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_ttl(settings, encryption_settings):
    settings.FIELD_ENCRYPTION = {**encryption_settings, "ACTIVE_KEY_TTL": 0}


@pytest.fixture
def rows(no_ttl):
    people = [
        Person.objects.create(
            full_name=f"Person {i}",
            email=f"p{i}@example.com",
            national_id=f"ID-{i}",
            credit_limit=i,
            is_vip=i % 2 == 0,
        )
        for i in range(23)
    ]
    notes = [Note.objects.create(body=f"note {i}", pinned_body=None if i % 3 else "pinned") for i in range(7)]
    return people, notes


def _rotate(*args):
    out = io.StringIO()
    call_command("rotate_field_keys", *args, stdout=out)
    return out.getvalue()


def _versions(model, column):
    return {raw_column(model, column, pk).split(":")[1] for pk in model.objects.values_list("pk", flat=True)}


def _assert_all_readable(people, notes):
    for person in people:
        loaded = Person.objects.get(pk=person.pk)
        assert (loaded.full_name, loaded.email, loaded.credit_limit) == (
            person.full_name,
            person.email,
            person.credit_limit,
        )
    for note in notes:
        assert Note.objects.get(pk=note.pk).body == note.body


def test_encrypted_tables_lists_every_model_with_encrypted_columns():
    labels = {t.label: {f.name for f in t.fields} for t in encrypted_tables()}
    assert labels["encryption_testapp.Person"] == {
        "full_name", "email", "national_id", "date_of_birth", "notes", "credit_limit", "is_vip",
    }  # fmt: skip
    assert labels["encryption_testapp.Note"] == {"body", "pinned_body"}


def test_rotation_reencrypts_every_row_and_retires_the_old_key(rows):
    people, notes = rows
    old = DataKey.objects.get()
    output = _rotate("--batch-size", "5")
    old.refresh_from_db()
    assert old.retired_at is not None  # retired, never deleted: no row uses it any more
    new = DataKey.objects.get(retired_at=None)
    assert new.version == old.version + 1
    assert "encryption_testapp.Person: 0/23 rows re-encrypted (0%)" in output
    assert "encryption_testapp.Person: 5/23 rows re-encrypted (21%)" in output
    assert "encryption_testapp.Person: 23/23 rows re-encrypted (100%)" in output
    assert "encryption_testapp.Note: 7/7 rows re-encrypted (100%)" in output
    assert f"Old data key v{old.version}" in output
    assert "retired: no row uses it" in output
    for column in ("full_name", "email", "national_id", "credit_limit", "is_vip"):
        assert _versions(Person, column) == {str(new.version)}
    assert _versions(Note, "body") == {str(new.version)}
    assert raw_column(Note, "pinned_body", notes[1].pk) is None  # NULL stays NULL
    _assert_all_readable(people, notes)
    # Blind index still finds rows (same plaintext, same index).
    assert (
        Person.objects.filter(
            email_index=Person._meta.get_field("email_index").index_for("p3@example.com")
        ).get()
        == people[3]
    )


def test_new_values_use_the_new_key_immediately(rows):
    _rotate("--keep-old-keys")
    person = Person.objects.create(full_name="After", email="a@example.com", national_id="1")
    assert raw_column(Person, "full_name", person.pk).startswith("ef2:2:")  # bound to its row


def test_interrupted_rotation_leaves_every_row_readable_and_resumes(rows, monkeypatch):
    people, notes = rows
    calls = {"n": 0}
    original = RotateCommand._progress

    def interrupt_after_two_batches(self, label, done, total):
        original(self, label, done, total)
        if done > 0:
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt

    monkeypatch.setattr(RotateCommand, "_progress", interrupt_after_two_batches)
    with pytest.raises(CommandError, match=r"Interrupted.*--resume"):
        _rotate("--batch-size", "4")
    monkeypatch.setattr(RotateCommand, "_progress", original)

    # Mid-way: 8 rows on the new key, the rest on the old one; both keys present; everything readable.
    assert DataKey.objects.count() == 2
    on_new = [
        pk
        for pk in Person.objects.values_list("pk", flat=True)
        if raw_column(Person, "email", pk).startswith("ef2:2:")
    ]
    assert len(on_new) == 8
    reset_keyring()  # as a fresh process would
    _assert_all_readable(people, notes)

    output = _rotate("--resume", "--batch-size", "4")
    assert "Resuming" in output
    assert "encryption_testapp.Person: 0/15 rows re-encrypted" in output  # only the remaining rows
    assert list(DataKey.objects.filter(retired_at=None).values_list("version", flat=True)) == [2]
    assert _versions(Person, "email") == {"2"}
    assert _versions(Note, "body") == {"2"}
    _assert_all_readable(people, notes)


def test_old_key_is_kept_while_rows_use_it(rows):
    people, _notes = rows
    old_token = raw_column(Person, "email", people[0].pk)
    _rotate("--keep-old-keys")
    # A row written by a process that still had the old key cached as its active key:
    write_raw(Person, "email", people[0].pk, old_token)
    outcomes = [outcome for _key, outcome in retire_unused_keys(get_keyring())]
    assert outcomes == ["kept: still used by encryption_testapp.Person (1); run rotate_field_keys --resume"]
    assert not DataKey.objects.filter(retired_at__isnull=False).exists()
    assert Person.objects.get(pk=people[0].pk).email == people[0].email
    output = _rotate("--resume")
    assert "encryption_testapp.Person: 1/1 rows re-encrypted" in output
    assert "retired: no row uses it" in output
    assert DataKey.objects.count() == 2  # retired keys stay


def test_old_key_is_kept_within_the_active_key_ttl(rows, settings, encryption_settings):
    settings.FIELD_ENCRYPTION = {**encryption_settings, "ACTIVE_KEY_TTL": 3600}
    output = _rotate()
    assert "kept: superseded under 3600s ago" in output
    assert not DataKey.objects.filter(retired_at__isnull=False).exists()


def test_rotation_stops_on_an_unreadable_row_and_changes_nothing_in_that_batch(rows):
    people, _notes = rows
    write_raw(Person, "notes", people[0].pk, "plaintext")
    with pytest.raises(
        CommandError,
        match=rf"DecryptionError: value in encryption_testapp\.Person\.notes "
        rf"\(table encryption_testapp_person, row id {people[0].pk}\)",
    ):
        _rotate("--batch-size", "5")
    assert _versions(Person, "email") == {"1"}  # the first batch rolled back
    assert DataKey.objects.count() == 2  # the new key exists; every row still readable with the old one


def test_bad_batch_size_is_refused(no_ttl):
    with pytest.raises(CommandError, match="--batch-size is 0"):
        _rotate("--batch-size", "0")


def test_rewrap_under_a_new_local_kek(rows, settings, encryption_settings):
    people, notes = rows
    k1 = json.loads(encryption_settings["LOCAL_KEKS"])["keys"]["k1"]
    settings.FIELD_ENCRYPTION = {**encryption_settings, "LOCAL_KEKS": local_keks("k2", k1=k1, k2=new_key())}
    out = io.StringIO()
    call_command("rewrap_field_keys", stdout=out)
    assert "re-wrapped from local:k1 to local:k2" in out.getvalue()
    key = DataKey.objects.get()
    assert (key.kek_backend, key.kek_id) == ("local", "k2")
    assert key.rewrapped_at is not None
    # k1 can now be removed: every data key unwraps with k2 alone, and no row changed.
    k2 = json.loads(settings.FIELD_ENCRYPTION["LOCAL_KEKS"])["keys"]["k2"]
    settings.FIELD_ENCRYPTION = {**encryption_settings, "LOCAL_KEKS": local_keks("k2", k2=k2)}
    _assert_all_readable(people, notes)
    out = io.StringIO()
    call_command("rewrap_field_keys", stdout=out)
    assert "already wrapped by local:k2" in out.getvalue()


def test_rewrap_needs_the_old_kek(rows, settings, encryption_settings):
    settings.FIELD_ENCRYPTION = {**encryption_settings, "LOCAL_KEKS": local_keks("k2", k2=new_key())}
    with pytest.raises(CommandError, match=r"UnknownKeyError: data key .* local KEK 'k1'"):
        call_command("rewrap_field_keys", stdout=io.StringIO())


def test_concurrent_key_creation_takes_the_next_version(no_ttl):
    ring = get_keyring()
    first = ring.create_key()
    second = ring.create_key()
    assert (first.version, second.version) == (1, 2)
    assert first.key_id != second.key_id


@pytest.mark.django_db(transaction=True)
def test_a_writer_still_open_during_rotation_keeps_its_row_readable(no_ttl):
    """Issue #14 section 1: a transaction encrypts with data key v1 and stays open while rotation
    re-encrypts and cleans up; after it commits, its row and every list containing it still read."""
    people = [Person.objects.create(full_name=f"P{i}", email=f"p{i}@example.com") for i in range(3)]
    encrypted, release, failures = threading.Event(), threading.Event(), []

    def writer():
        try:
            with transaction.atomic():  # its own connection: this thread's
                Person.objects.create(full_name="In flight", email="late@example.com", national_id="L-1")
                encrypted.set()
                if not release.wait(30):
                    raise TimeoutError("the test never released the writer")
        except Exception as exc:
            failures.append(exc)
            encrypted.set()
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert encrypted.wait(30)
        old = DataKey.objects.get()
        _rotate("--keep-old-keys")  # v2 active; the writer's value, under v1, is not committed yet
        output = _rotate("--resume")  # sees no committed row on v1
        assert f"Old data key v{old.version}" in output
    finally:
        release.set()
        thread.join(30)
    assert not failures
    reset_keyring()  # as a fresh process would
    late = Person.objects.get(email_index=Person._meta.get_field("email_index").index_for("late@example.com"))
    assert (late.full_name, late.national_id) == ("In flight", "L-1")
    assert sorted(p.email for p in Person.objects.all()) == sorted(
        [p.email for p in people] + ["late@example.com"]
    )
    assert DataKey.objects.filter(pk=old.pk).exists()  # retired, never deleted
    output = _rotate("--resume")  # the late row is moved to the newest key too
    assert "encryption_testapp.Person: 1/1 rows re-encrypted" in output
    assert _versions(Person, "email") == {"2"}


def test_rotation_binds_old_field_only_values_to_their_rows(rows):
    """Values written before row binding (ef1) stay readable, and rotation rewrites them bound (ef2)."""
    people, _notes = rows
    ring = get_keyring()
    for person in people[:5]:  # as the code before row binding wrote them
        write_raw(Person, "email", person.pk, ring.encrypt(person.email, "encryption_testapp.Person.email"))
    assert raw_column(Person, "email", people[0].pk).startswith("ef1:1:")
    assert [p.email for p in Person.objects.order_by("id")[:5]] == [p.email for p in people[:5]]
    output = _rotate("--resume")
    assert "encryption_testapp.Person: 5/5 rows re-encrypted" in output
    assert {raw_column(Person, "email", p.pk)[:4] for p in people} == {"ef2:"}
    assert {raw_column(Note, "body", n.pk)[:4] for n in _notes} == {"ef1:"}  # Note has no row identity
    _assert_all_readable(people, _notes)


def test_old_format_value_under_a_retired_key_is_refused_on_a_row_bound_model(rows):
    people, _notes = rows
    ring = get_keyring()
    replayed = ring.encrypt(people[1].email, "encryption_testapp.Person.email")  # ef1 under v1
    _rotate()  # every row bound to its row under v2; v1 retired
    write_raw(Person, "email", people[0].pk, replayed)  # an old-format value put back, from any row
    reset_keyring()
    with pytest.raises(
        DecryptionError,
        match=rf"Person\.email \(table encryption_testapp_person, row id {people[0].pk}\) "
        r"has the old field-only format under retired data key v1",
    ):
        list(Person.objects.all())


def test_rotation_error_names_the_row(rows):
    _people, notes = rows
    write_raw(Note, "body", notes[2].pk, "tampered")
    with pytest.raises(
        CommandError, match=rf"Note\.body \(table encryption_testapp_note, row id {notes[2].pk}\)"
    ):
        _rotate()


def test_each_data_key_counts_its_encryptions_and_a_new_key_takes_over_before_the_limit(
    settings, encryption_settings
):
    settings.FIELD_ENCRYPTION = {
        **encryption_settings,
        "ACTIVE_KEY_TTL": 0,
        "ROTATE_AFTER_ENCRYPTIONS": 10,
        "ENCRYPTION_RESERVATION": 4,
    }
    ring = get_keyring()
    tokens = [ring.encrypt(f"value {i}", "encryption_testapp.Note.body") for i in range(13)]
    # Blocks of 4 are counted in the database before use: 4, 8, then 12 > 10 starts data key v2.
    assert [token.split(":")[1] for token in tokens] == ["1"] * 8 + ["2"] * 5
    first, second = DataKey.objects.order_by("version")
    assert first.encryptions_reserved == 12  # an upper bound of what v1 encrypted, across processes
    assert second.encryptions_reserved == 8
    reset_keyring()  # another process counts against the same key
    get_keyring().encrypt("x", "encryption_testapp.Note.body")
    assert DataKey.objects.get(version=2).encryptions_reserved == 12
    assert [get_keyring().decrypt(t, "encryption_testapp.Note.body") for t in tokens] == [
        f"value {i}" for i in range(13)
    ]


def test_processes_past_the_limit_share_one_new_key(settings, encryption_settings):
    settings.FIELD_ENCRYPTION = {
        **encryption_settings,
        "ACTIVE_KEY_TTL": 3600,  # both processes keep v1 cached as their active key
        "ROTATE_AFTER_ENCRYPTIONS": 5,
        "ENCRYPTION_RESERVATION": 2,
    }
    first = get_keyring()
    for _ in range(4):  # two blocks of 2 reserved on v1, all used
        assert first.encrypt("a", "encryption_testapp.Note.body").startswith("ef1:1:")
    reset_keyring()
    second = get_keyring()
    assert second.encrypt("b", "encryption_testapp.Note.body").startswith("ef1:2:")  # 6 > 5: creates v2
    # The first process, v1 still cached as active, needs a new block: it finds v2 and creates none.
    assert first.encrypt("c", "encryption_testapp.Note.body").startswith("ef1:2:")
    assert list(DataKey.objects.values_list("version", flat=True)) == [1, 2]


@pytest.mark.parametrize("limit", [0, 2**32, "many"])
def test_the_rotation_threshold_must_stay_under_the_nonce_limit(settings, encryption_settings, limit):
    from soc2kit.encryption.config import load_settings
    from soc2kit.encryption.errors import KeyConfigurationError

    settings.FIELD_ENCRYPTION = {**encryption_settings, "ROTATE_AFTER_ENCRYPTIONS": limit}
    with pytest.raises(KeyConfigurationError, match=r"ROTATE_AFTER_ENCRYPTIONS .* 2\^32 encryptions per key"):
        load_settings()
