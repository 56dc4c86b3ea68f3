"""django-axes wiring: lockouts keyed on the resolved client address, cleared per account on login."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from .client_ip import get_lockout_key


def reset_own_failures_on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Instead of AXES_RESET_ON_SUCCESS, which clears every failure of the client address (lockout is
    keyed on the address alone), so that an attacker could log into their own account between guesses
    at someone else's: clear only the failures typed for this account from this address."""
    if request is None:
        return
    from axes.utils import reset

    reset(ip=get_lockout_key(request), username=user.get_username())


def lockout_response(
    request: HttpRequest, credentials: Any = None, *args: Any, **kwargs: Any
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: JSON for the API, plain text for the HTML forms; 429 either way."""
    detail = "Too many failed login attempts from this address; try again later or contact an administrator."
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "locked_out", "detail": detail}, status=429)
    return HttpResponse(detail, status=429, content_type="text/plain; charset=utf-8")
