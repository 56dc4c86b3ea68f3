"""What a failed login records of the username typed. A username that matches no account may be
anything the person typed there, a password included, so it is stored and logged only as a keyed hash
(HMAC-SHA256 keyed from SECRET_KEY): the same typo still correlates across entries, but nobody without
the key can read it back or confirm a guess."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.utils.crypto import salted_hmac

UNKNOWN_PREFIX = "unknown-user:"


def recordable_username(username: Any) -> str:
    """``username`` itself when it names an account, else ``unknown-user:<keyed hash>``."""
    username = str(username or "")
    if not username:
        return ""
    user_model = get_user_model()
    if user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).exists():
        return username[:150]
    digest = salted_hmac("soc2kit.accounts.unknown-username", username, algorithm="sha256").hexdigest()
    return UNKNOWN_PREFIX + digest[:32]


def axes_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """AXES_USERNAME_CALLABLE: django-axes's attempt tables and lockout signal get the same form."""
    field = get_user_model().USERNAME_FIELD
    typed = (credentials or {}).get(field)
    if typed is None:
        typed = getattr(request, "POST", {}).get(field)
    return recordable_username(typed)
