"""Checkpoints outside the database: deleting the newest entries or truncating the table is found by
`verify_audit_chain`, which alerts and exits non-zero; `audit_checkpoint` refuses to paper over it."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from moto import mock_aws

from soc2kit.audit.checkpoints import (
    Checkpoint,
    FileCheckpointStore,
    S3CheckpointStore,
    current_head,
    store_from_settings,
)
from soc2kit.audit.models import AuditEvent
from soc2kit.audit.recorder import record

REGION = "eu-west-1"
BUCKET = "soc2kit-test-audit"


def _append(count: int) -> list[AuditEvent]:
    return [
        record(None, "read", "success", object_type="test.thing", object_id=f"c{n}") for n in range(count)
    ]


def _run(command: str) -> str:
    out = StringIO()
    call_command(command, stdout=out)
    return out.getvalue()


def _as_table_owner(sql: str) -> None:
    """What the table's owner can do without any key: switch the trigger off, delete, switch it on."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute(sql)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


def _checkpoints(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.django_db
def test_verify_writes_a_signed_checkpoint_to_the_store_and_the_log(checkpoint_file, caplog):
    events = _append(3)
    with caplog.at_level(logging.INFO, logger="soc2kit.audit"):
        output = _run("verify_audit_chain")
    assert "audit chain OK: 3 entries verified" in output
    assert "no earlier checkpoint (first run)" in output
    (stored,) = _checkpoints(checkpoint_file)
    assert stored["entries"] == 3
    assert stored["head_id"] == events[-1].id
    assert stored["head_mac"] == events[-1].mac
    assert Checkpoint(**stored).signature_valid()
    (logged,) = [r.audit_checkpoint for r in caplog.records if hasattr(r, "audit_checkpoint")]
    assert logged == stored


@pytest.mark.django_db
def test_audit_checkpoint_command_writes_one_and_verify_compares_with_it(checkpoint_file):
    _append(2)
    assert "audit checkpoint of" in _run("audit_checkpoint")
    _append(2)  # the trail may grow past a checkpoint
    output = _run("verify_audit_chain")
    assert "compared with checkpoint of" in output
    assert "(2 entries" in output
    assert [c["entries"] for c in _checkpoints(checkpoint_file)] == [2, 4]


@pytest.mark.django_db
def test_deleting_the_newest_entries_is_detected_and_alerted():
    events = _append(5)
    _run("audit_checkpoint")
    _as_table_owner(f"DELETE FROM audit_auditevent WHERE id >= {events[3].id}")
    mail.outbox.clear()
    with pytest.raises(CommandError) as excinfo:
        _run("verify_audit_chain")
    report = str(excinfo.value)
    assert excinfo.value.returncode == 1
    assert f"entry id={events[4].id}, the head of the checkpoint" in report
    assert "holds 3 entries, fewer than the 5" in report
    assert "audit chain OK" not in report
    assert len(mail.outbox) == 1
    assert "audit_chain_broken" in mail.outbox[0].subject


@pytest.mark.django_db
def test_truncate_is_detected_not_reported_as_ok():
    _append(4)
    _run("audit_checkpoint")
    _as_table_owner("TRUNCATE audit_auditevent")
    with pytest.raises(CommandError, match="holds 0 entries, fewer than the 4"):
        _run("verify_audit_chain")


@pytest.mark.django_db
def test_truncate_then_a_new_longer_chain_is_detected():
    """A fresh chain from genesis, longer than the checkpoint, with ids restarted: the head's MAC differs."""
    events = _append(3)
    _run("audit_checkpoint")
    _as_table_owner("TRUNCATE audit_auditevent RESTART IDENTITY")
    _append(events[-1].id + 2)  # ids from 1 again, past the checkpoint's head id
    with pytest.raises(CommandError, match=rf"entry id={events[-1].id} no longer has the MAC"):
        _run("verify_audit_chain")


@pytest.mark.django_db
def test_audit_checkpoint_writes_nothing_when_the_trail_is_behind(checkpoint_file):
    _append(3)
    _run("audit_checkpoint")
    _as_table_owner("TRUNCATE audit_auditevent")
    mail.outbox.clear()
    with pytest.raises(CommandError, match="no checkpoint written"):
        _run("audit_checkpoint")
    assert [c["entries"] for c in _checkpoints(checkpoint_file)] == [3]
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_checkpoint_signed_without_the_key_is_rejected(checkpoint_file):
    _append(2)
    forged = Checkpoint(
        created_at="2026-01-01T00:00:00.000000+00:00",
        entries=0,
        head_id=0,
        head_mac="0" * 64,
        signature="f" * 64,
    )
    checkpoint_file.write_text(forged.to_json() + "\n")
    with pytest.raises(CommandError, match="invalid signature"):
        _run("verify_audit_chain")


@pytest.mark.django_db
def test_the_checkpoint_of_an_empty_trail_verifies():
    assert "audit chain OK: 0 entries verified" in _run("verify_audit_chain")
    assert "compared with checkpoint of" in _run("verify_audit_chain")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"STORE": "ftp"}, "DJANGO_AUDIT_CHECKPOINT_STORE='ftp' is not supported"),
        ({"STORE": "file", "FILE": ""}, "needs DJANGO_AUDIT_CHECKPOINT_FILE"),
        ({"STORE": "s3", "S3_BUCKET": ""}, "needs DJANGO_AUDIT_CHECKPOINT_S3_BUCKET"),
        ({"STORE": "s3", "S3_BUCKET": BUCKET, "RETENTION_DAYS": 0}, "RETENTION_DAYS=0 is not allowed"),
    ],
)
def test_bad_store_settings_are_refused_by_name(settings, config, message):
    settings.AUDIT_CHECKPOINTS = {**settings.AUDIT_CHECKPOINTS, **config}
    with pytest.raises(ImproperlyConfigured, match=message):
        store_from_settings()


def test_an_unwritable_checkpoint_file_is_a_clear_error(tmp_path):
    from soc2kit.audit.checkpoints import CheckpointError

    store = FileCheckpointStore(tmp_path / "missing-dir" / "checkpoints.jsonl")
    with pytest.raises(CheckpointError, match="set DJANGO_AUDIT_CHECKPOINT_FILE"):
        store.put(Checkpoint(created_at="2026-01-01T00:00:00+00:00", entries=0, head_id=0, head_mac="0" * 64))


@pytest.fixture
def s3_bucket(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(
            Bucket=BUCKET,
            CreateBucketConfiguration={"LocationConstraint": REGION},
            ObjectLockEnabledForBucket=True,
        )
        yield client


@pytest.mark.django_db
def test_s3_store_puts_each_checkpoint_under_compliance_retention(s3_bucket):
    store = S3CheckpointStore(BUCKET, "checkpoints/", retention_days=400, client=s3_bucket)
    _append(1)
    first = current_head().signed()
    store.put(first)
    _append(1)
    second = current_head().signed()
    where = store.put(second)
    assert store.latest() == second  # the newest is found with one listing call, not a full scan
    key = where.removeprefix(f"s3://{BUCKET}/")
    stored = s3_bucket.head_object(Bucket=BUCKET, Key=key)  # (moto's GetObjectRetention answers 500)
    assert stored["ObjectLockMode"] == "COMPLIANCE"
    retain_until = stored["ObjectLockRetainUntilDate"]
    assert abs(retain_until - (second.created + timedelta(days=400))) < timedelta(seconds=1)
    with pytest.raises(ClientError, match="AccessDenied"):
        s3_bucket.delete_object(Bucket=BUCKET, Key=key, VersionId=stored["VersionId"])


@pytest.mark.django_db
def test_verify_reads_the_checkpoint_back_from_s3_and_finds_a_truncation(settings, s3_bucket):
    settings.AUDIT_CHECKPOINTS = {
        **settings.AUDIT_CHECKPOINTS,
        "STORE": "s3",
        "S3_BUCKET": BUCKET,
        "RETENTION_DAYS": 400,
    }
    _append(3)
    assert "written to s3://" in _run("verify_audit_chain")
    _as_table_owner("TRUNCATE audit_auditevent")
    with pytest.raises(CommandError, match="holds 0 entries, fewer than the 3"):
        _run("verify_audit_chain")


@pytest.mark.django_db
@pytest.mark.parametrize("command", ["verify_audit_chain", "audit_checkpoint"])
def test_commands_name_a_missing_store_setting(settings, command):
    settings.AUDIT_CHECKPOINTS = {**settings.AUDIT_CHECKPOINTS, "STORE": "file", "FILE": ""}
    with pytest.raises(CommandError, match="needs DJANGO_AUDIT_CHECKPOINT_FILE"):
        _run(command)


@pytest.mark.django_db
def test_an_explained_loss_is_accepted_with_an_alert_and_verification_resumes(checkpoint_file):
    _append(3)
    _run("audit_checkpoint")
    _as_table_owner("TRUNCATE audit_auditevent")
    with pytest.raises(CommandError, match="needs a reason"):
        call_command("audit_checkpoint", "--accept-loss", " ", stdout=StringIO())
    mail.outbox.clear()
    out = StringIO()
    call_command("audit_checkpoint", "--accept-loss", "database restored from backup", stdout=out)
    assert "audit checkpoint of" in out.getvalue()
    assert len(mail.outbox) == 1
    assert "audit_checkpoint_loss_accepted" in mail.outbox[0].subject
    assert "database restored from backup" in mail.outbox[0].body
    assert [c["entries"] for c in _checkpoints(checkpoint_file)] == [3, 0]  # the old one stays
    assert "audit chain OK: 0 entries verified" in _run("verify_audit_chain")
