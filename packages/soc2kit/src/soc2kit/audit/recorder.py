"""The one function the rest of the app calls to write the audit trail."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import models
from django.http import HttpRequest

from soc2kit.accounts.client_ip import get_client_ip

from . import chain
from .models import AuditEvent

# A copy of every entry goes to the logs, so the trail also leaves the host (log collector, or the
# stack's CloudWatch audit group) where nobody on the host can rewrite it.
logger = logging.getLogger("soc2kit.audit")


def record(
    request: HttpRequest | None,
    action: str,
    outcome: str,
    *,
    user: Any = None,
    username: str = "",
    instance: models.Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    changed_fields: Iterable[str] = (),
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one entry. Pass field *names* and non-sensitive details only; values never belong here."""
    if user is None and request is not None:
        user = getattr(request, "user", None)
    authenticated = bool(user is not None and getattr(user, "is_authenticated", False))
    if instance is not None:
        object_type = object_type or instance._meta.label_lower
        object_id = object_id or str(instance.pk)
    event = AuditEvent(
        actor_id=user.pk if authenticated else None,
        actor_username=(user.get_username() if authenticated else username)[:150],
        action=action,
        outcome=outcome,
        object_type=object_type,
        object_id=str(object_id),
        changed_fields=sorted(changed_fields),
        details=details or {},
        client_ip=get_client_ip(request)[:64] if request is not None else "",
        user_agent=(request.META.get("HTTP_USER_AGENT", "") if request is not None else "")[:256],
        request_path=(request.path if request is not None else "")[:256],
    )
    event = chain.append(event)
    logger.info(
        "audit %s %s",
        event.action,
        event.outcome,
        extra={
            "audit": {
                "id": event.pk,
                "timestamp": event.timestamp.isoformat(),
                "actor": event.actor_username,
                "action": event.action,
                "outcome": event.outcome,
                "object_type": event.object_type,
                "object_id": event.object_id,
                "changed_fields": event.changed_fields,
                "details": event.details,
                "client_ip": event.client_ip,
                "path": event.request_path,
                "mac": event.mac,
            }
        },
    )
    return event


def record_denial(
    request: HttpRequest, *, reason: str, object_type: str = "", object_id: str | int = ""
) -> AuditEvent:
    """Audit an access denial and raise an alert when one actor or address keeps being denied."""
    from django.conf import settings
    from django.db.models import Q

    from soc2kit.observability.alerts import raise_alert

    from .models import Action, Outcome

    event = record(
        request,
        Action.ACCESS_DENIED,
        Outcome.DENIED,
        object_type=object_type,
        object_id=object_id,
        details={"reason": reason, "method": request.method},
    )
    same_source = Q(client_ip=event.client_ip)
    if event.actor_id is not None:
        same_source |= Q(actor_id=event.actor_id)
    recent = AuditEvent.objects.filter(
        same_source,
        action=Action.ACCESS_DENIED,
        timestamp__gte=event.timestamp - settings.SECURITY_DENIAL_ALERT_WINDOW,
    ).count()
    if recent == settings.SECURITY_DENIAL_ALERT_THRESHOLD:  # once per burst, not on every further denial
        raise_alert(
            "repeated_denials",
            f"{recent} access denials within {settings.SECURITY_DENIAL_ALERT_WINDOW} for user "
            f"{event.actor_username or '(anonymous)'} from {event.client_ip} (latest audit entry {event.id})",
            audit_id=event.id,
        )
    return event
