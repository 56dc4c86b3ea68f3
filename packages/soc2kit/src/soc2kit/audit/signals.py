"""Authentication events into the audit trail (and lockouts into an alert)."""

from datetime import timedelta
from typing import Any

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from soc2kit.accounts.usernames import recordable_username
from soc2kit.observability.alerts import raise_alert

from .models import Action, AuditEvent, Outcome
from .recorder import record


def _attempted_username(credentials: dict[str, Any] | None) -> str:
    # Django already replaces the password in `credentials` with asterisks; keep only the username,
    # and one that names no account (maybe a password typed in the wrong field) only as a keyed hash.
    return recordable_username((credentials or {}).get("username", ""))


@receiver(user_logged_in, dispatch_uid="audit_login")
def audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record(request, Action.LOGIN, Outcome.SUCCESS, user=user)


@receiver(user_logged_out, dispatch_uid="audit_logout")
def audit_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record(request, Action.LOGOUT, Outcome.SUCCESS, user=user)


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def audit_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    locked = bool(getattr(request, "axes_locked_out", False))
    record(
        request,
        Action.LOGIN_FAILED,
        Outcome.DENIED if locked else Outcome.FAILURE,
        username=_attempted_username(credentials),
        details={"reason": "locked_out" if locked else "bad_credentials"},
    )


@receiver(user_locked_out, dispatch_uid="audit_lockout")
def audit_lockout(
    sender: Any, request: Any, username: Any = None, ip_address: Any = None, **kwargs: Any
) -> None:
    event = record(request, Action.LOCKOUT, Outcome.DENIED, username=str(username or "")[:150])
    # axes signals again on every attempt during the lockout; alert once per lockout period.
    earlier = AuditEvent.objects.filter(
        action=Action.LOCKOUT,
        client_ip=event.client_ip,
        id__lt=event.id,
        timestamp__gte=event.timestamp - (settings.AXES_COOLOFF_TIME or timedelta(days=1)),
    )
    if earlier.exists():
        return
    raise_alert(
        "lockout",
        f"login locked out for client {event.client_ip} after repeated failures (audit entry {event.id})",
        audit_id=event.id,
    )
