"""Encrypting an existing plaintext column: batched backfill, resumable, and nothing lost when interrupted."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from soc2kit.encryption import adoption

from .conftest import raw_column
from .testapp.models import Contact

pytestmark = pytest.mark.django_db

COMMAND = "encrypt_plaintext_column"


@pytest.fixture
def contacts():
    # Rows as they stand before the backfill: plaintext only (a bulk insert does not run the field's save).
    rows = [Contact(email=f"c{i}@example.com") for i in range(11)] + [Contact(email="")]
    return Contact.objects.bulk_create(rows)


def _run(*args):
    out = io.StringIO()
    call_command(COMMAND, *args, stdout=out)
    return out.getvalue()


def test_backfill_encrypts_every_row_bound_to_it_and_leaves_the_plaintext(contacts):
    output = _run("encryption_testapp.Contact", "email", "email_encrypted", "--batch-size", "5")
    assert "encryption_testapp.Contact.email -> email_encrypted: 12 rows encrypted" in output
    assert "5/12" in output
    assert "10/12" in output
    for contact in contacts:
        loaded = Contact.objects.get(pk=contact.pk)
        assert loaded.email_encrypted == contact.email
        assert loaded.email == contact.email
        assert raw_column(Contact, "email_encrypted", contact.pk).startswith("ef2:")  # bound to its row
    assert "all 12 rows match; the plaintext column can be dropped" in _run(
        "encryption_testapp.Contact", "email", "email_encrypted", "--check"
    )


def test_interrupted_backfill_loses_nothing_and_resumes(contacts, monkeypatch):
    real_write = adoption._write_values
    calls = []

    def write_then_interrupt(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the second batch
        real_write(*args)

    monkeypatch.setattr(adoption, "_write_values", write_then_interrupt)
    with pytest.raises(
        CommandError, match=r"Interrupted: every committed batch .* Run the same command again"
    ):
        _run("encryption_testapp.Contact", "email", "email_encrypted", "--batch-size", "4")

    encrypted = list(Contact.objects.filter(email_encrypted__isnull=False).order_by("pk"))
    assert [c.pk for c in encrypted] == [c.pk for c in contacts[:4]]  # the first batch committed, no more
    assert [c.email for c in Contact.objects.order_by("pk")] == [
        c.email for c in contacts
    ]  # plaintext intact
    with pytest.raises(CommandError, match="8 rows not yet encrypted"):
        _run("encryption_testapp.Contact", "email", "email_encrypted", "--check")

    monkeypatch.setattr(adoption, "_write_values", real_write)
    assert "8 rows encrypted" in _run(
        "encryption_testapp.Contact", "email", "email_encrypted", "--batch-size", "4"
    )
    for contact in contacts:
        assert Contact.objects.get(pk=contact.pk).email_encrypted == contact.email
    assert "all 12 rows match" in _run("encryption_testapp.Contact", "email", "email_encrypted", "--check")


def test_check_names_rows_changed_after_the_backfill(contacts):
    _run("encryption_testapp.Contact", "email", "email_encrypted")
    Contact.objects.filter(pk=contacts[3].pk).update(
        email="changed@example.com"
    )  # a save that wrote one field
    with pytest.raises(CommandError, match=rf"1 rows whose encrypted value differs .*\[{contacts[3].pk}\]"):
        _run("encryption_testapp.Contact", "email", "email_encrypted", "--check")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("encryption_testapp.Nope", "email", "email_encrypted"),
            "no model 'encryption_testapp.Nope'; name it as app_label.ModelName",
        ),
        (("encryption_testapp.Contact", "mail", "email_encrypted"), "Contact has no field named 'mail'"),
        (("encryption_testapp.Contact", "email_encrypted", "email"), "email_encrypted is already encrypted"),
        (("encryption_testapp.Contact", "email", "email"), "email is not an encrypted field"),
        (("encryption_testapp.Person", "notes", "full_name"), "already encrypted"),
        (
            ("encryption_testapp.Contact", "email", "email_encrypted", "--batch-size", "0"),
            "--batch-size is 0",
        ),
    ],
)
def test_bad_arguments_are_refused_by_name(args, message):
    with pytest.raises(CommandError, match=message):
        _run(*args)
