"""The audit trail: one append-only table, each row MAC-chained to the one before it.

Rows hold who/what/when/where/outcome and the *names* of changed fields, never field values.
A database trigger (migration 0002) rejects UPDATE and DELETE for every role.
"""

from django.conf import settings
from django.db import models

GENESIS_MAC = "0" * 64


class Action(models.TextChoices):
    LOGIN = "login"
    LOGOUT = "logout"
    LOGIN_FAILED = "login_failed"
    LOCKOUT = "lockout"
    ACCESS_DENIED = "access_denied"  # not authenticated, or authenticated without the permission
    LIST = "list"
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class Outcome(models.TextChoices):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


class AuditEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    timestamp = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False
    )  # no FK constraint: deleting a user must not touch (or be blocked by) the trail
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    changed_fields = models.JSONField(default=list, blank=True)  # names only
    details = models.JSONField(default=dict, blank=True)  # non-sensitive context: counts, ids, reason
    client_ip = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    request_path = models.CharField(max_length=256, blank=True)  # path only, never the query string
    prev_mac = models.CharField(max_length=64)
    mac = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ("id",)
        # One successor per entry: the database itself refuses a fork of the chain, whatever the writer.
        constraints = (models.UniqueConstraint(fields=["prev_mac"], name="audit_one_successor_per_entry"),)
        indexes = (
            models.Index(fields=["timestamp"], name="audit_time_idx"),
            models.Index(fields=["actor", "timestamp"], name="audit_actor_time_idx"),
            models.Index(fields=["actor_username", "timestamp"], name="audit_username_time_idx"),
        )

    def __str__(self) -> str:
        return f"audit #{self.id} {self.action} {self.outcome}"
