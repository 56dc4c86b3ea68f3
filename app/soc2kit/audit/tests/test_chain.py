"""The audit trail is MAC-chained, append-only in the database, verified by a command that names the
first broken entry, and safe under concurrent writers."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from soc2kit.audit import chain
from soc2kit.audit.models import GENESIS_MAC, AuditEvent
from soc2kit.audit.recorder import record


def _append(count: int, prefix: str = "e") -> list[AuditEvent]:
    return [
        record(None, "read", "success", object_type="test.thing", object_id=f"{prefix}{n}")
        for n in range(count)
    ]


def _verify_output() -> str:
    out = StringIO()
    call_command("verify_audit_chain", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_entries_are_chained_from_genesis():
    first, second, third = _append(3)
    assert first.prev_mac == GENESIS_MAC
    assert second.prev_mac == first.mac
    assert third.prev_mac == second.mac
    assert "audit chain OK: 3 entries verified" in _verify_output()


@pytest.mark.django_db
def test_update_and_delete_are_rejected_by_the_database():
    event = _append(1)[0]
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE audit_auditevent SET outcome = 'failure' WHERE id = %s", [event.id])
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [event.id])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="login")
    assert AuditEvent.objects.get(pk=event.pk).outcome == "success"


def _tamper(sql: str, params: list[object]) -> None:
    """What an attacker with table-owner rights could do: switch the trigger off, rewrite, switch it on."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


@pytest.mark.django_db
def test_verify_reports_the_first_altered_entry_and_alerts(settings):
    events = _append(5)
    _tamper("UPDATE audit_auditevent SET actor_username = 'someone-else' WHERE id = %s", [events[2].id])
    _tamper("UPDATE audit_auditevent SET outcome = 'failure' WHERE id = %s", [events[3].id])
    mail.outbox.clear()
    with pytest.raises(CommandError, match=rf"entry id={events[2].id}: MAC mismatch"):
        _verify_output()
    assert len(mail.outbox) == 1
    assert "audit_chain_broken" in mail.outbox[0].subject
    assert f"id={events[2].id}" in mail.outbox[0].body


@pytest.mark.django_db
def test_verify_detects_a_removed_entry():
    events = _append(4)
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[1].id])
    checked, broken = chain.verify()
    assert checked == 1
    assert broken.event_id == events[2].id
    assert "removed or reordered" in broken.reason


@pytest.mark.django_db
def test_verify_detects_a_forged_mac_made_without_the_key():
    events = _append(2)
    _tamper(
        "UPDATE audit_auditevent SET object_id = 'forged', mac = %s WHERE id = %s", ["f" * 64, events[1].id]
    )
    _, broken = chain.verify()
    assert broken.event_id == events[1].id


@pytest.mark.django_db
def test_verify_command_exits_non_zero(tmp_path):
    events = _append(2)
    _tamper("UPDATE audit_auditevent SET details = '{\"x\": 1}' WHERE id = %s", [events[0].id])
    with pytest.raises(CommandError) as excinfo:
        _verify_output()
    assert excinfo.value.returncode == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_do_not_fork_the_chain():
    writers, per_writer = 6, 15
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(number: int) -> None:
        try:
            barrier.wait()
            _append(per_writer, prefix=f"w{number}-")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert AuditEvent.objects.count() == writers * per_writer
    assert chain.verify() == (writers * per_writer, None)
    macs = list(AuditEvent.objects.values_list("prev_mac", flat=True))
    assert len(set(macs)) == len(macs)  # no two entries claim the same predecessor


@pytest.mark.django_db
def test_table_is_indexed_by_time_and_actor():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'audit_auditevent'")
        definitions = "\n".join(row[0] for row in cursor.fetchall())
    assert '("timestamp")' in definitions
    assert '(actor_id, "timestamp")' in definitions
