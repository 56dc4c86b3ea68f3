"""The audit trail is MAC-chained, append-only in the database, verified by a command that names
every broken entry, and safe under concurrent writers."""

from __future__ import annotations

import threading
from io import StringIO
from typing import Any

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, connections, transaction

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


def _tamper(sql: str, params: list[Any]) -> None:
    """What an attacker with table-owner rights could do: switch the trigger off, rewrite, switch it on."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


@pytest.mark.django_db
def test_verify_reports_every_altered_entry_and_alerts_once():
    events = _append(8)
    for event in (events[2], events[3], events[6]):
        _tamper("UPDATE audit_auditevent SET outcome = 'failure' WHERE id = %s", [event.id])
    mail.outbox.clear()
    with pytest.raises(CommandError) as excinfo:
        _verify_output()
    report = str(excinfo.value)
    assert "3 problem(s) in 8 entries" in report
    for event in (events[2], events[3], events[6]):
        assert f"entry id={event.id}: MAC mismatch" in report
    for event in (events[0], events[1], events[4], events[5], events[7]):
        assert f"entry id={event.id}:" not in report
    assert len(mail.outbox) == 1
    assert "audit_chain_broken" in mail.outbox[0].subject
    assert f"id={events[2].id}" in mail.outbox[0].body


@pytest.mark.django_db
def test_verify_reports_every_removed_entry():
    events = _append(6)
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[1].id])
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[4].id])
    checked, breaks = chain.verify()
    assert checked == 4
    assert [b.event_id for b in breaks] == [events[2].id, events[5].id]
    assert all("removed or reordered" in b.reason for b in breaks)


@pytest.mark.django_db
def test_verify_detects_removed_oldest_entries():
    events = _append(3)
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[0].id])
    _, breaks = chain.verify()
    assert [b.event_id for b in breaks] == [events[1].id]


@pytest.mark.django_db
def test_verify_detects_a_forged_mac_made_without_the_key():
    events = _append(2)
    _tamper(
        "UPDATE audit_auditevent SET object_id = 'forged', mac = %s WHERE id = %s", ["f" * 64, events[1].id]
    )
    _, breaks = chain.verify()
    assert [b.event_id for b in breaks] == [events[1].id]


@pytest.mark.django_db
def test_verify_command_exits_non_zero(tmp_path):
    events = _append(2)
    _tamper("UPDATE audit_auditevent SET details = '{\"x\": 1}' WHERE id = %s", [events[0].id])
    with pytest.raises(CommandError) as excinfo:
        _verify_output()
    assert excinfo.value.returncode == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_do_not_fork_the_chain():
    """Writers in threads, each on its own PostgreSQL connection, half of them inside a longer
    transaction that read the head before appending (as a request with ATOMIC_REQUESTS would)."""
    writers, per_writer = 6, 15
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []
    backend_pids: set[int] = set()

    def write(number: int) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backend_pids.add(cursor.fetchone()[0])
            barrier.wait()
            if number % 2:
                for n in range(per_writer):
                    with transaction.atomic():
                        AuditEvent.objects.order_by("-id").first()  # an earlier read in the same transaction
                        _append(1, prefix=f"w{number}-{n}-")
            else:
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
    assert len(backend_pids) == writers  # separate database connections, really concurrent
    assert AuditEvent.objects.count() == writers * per_writer
    assert chain.verify() == (writers * per_writer, [])
    macs = list(AuditEvent.objects.values_list("prev_mac", flat=True))
    assert len(set(macs)) == len(macs)  # no two entries claim the same predecessor


@pytest.mark.django_db
def test_database_refuses_a_second_successor_of_an_entry():
    """A writer that skipped the lock (or read a stale head) cannot fork the chain: the insert fails."""
    first, second = _append(2)
    fork = AuditEvent(action="read", outcome="success", object_id="fork")
    fork.timestamp = second.timestamp
    fork.prev_mac = first.mac  # second already follows first
    fork.mac = chain.compute_mac(first.mac, fork)
    with pytest.raises(IntegrityError, match="audit_one_successor_per_entry"), transaction.atomic():
        fork.save(force_insert=True)
    assert chain.verify() == (2, [])


@pytest.mark.django_db
def test_table_is_indexed_by_time_and_actor():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'audit_auditevent'")
        definitions = "\n".join(row[0] for row in cursor.fetchall())
    assert '("timestamp")' in definitions
    assert '(actor_id, "timestamp")' in definitions
