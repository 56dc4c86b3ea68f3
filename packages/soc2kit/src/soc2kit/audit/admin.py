from django.contrib import admin
from django.http import HttpRequest

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only view of the trail; the table is append-only in the database as well."""

    list_display = (
        "id",
        "timestamp",
        "actor_username",
        "action",
        "outcome",
        "object_type",
        "object_id",
        "client_ip",
    )
    list_filter = ("action", "outcome", "object_type")
    search_fields = ("actor_username", "object_id", "client_ip")
    date_hierarchy = "timestamp"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
