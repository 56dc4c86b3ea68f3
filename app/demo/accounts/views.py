"""API login/logout (JSON, session + CSRF) and the JSON CSRF failure view."""

from __future__ import annotations

from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from .http import InvalidRequest, error_response, json_object_body


@require_GET
@ensure_csrf_cookie
def csrf_token(request: HttpRequest) -> JsonResponse:
    """Step one for an API client: get the CSRF cookie and the token to echo in X-CSRFToken."""
    return JsonResponse({"csrfToken": get_token(request)})


@require_POST
def api_login(request: HttpRequest) -> JsonResponse:
    try:
        data = json_object_body(request)
        errors = {
            name: ["This field is required and must be a non-empty string."]
            for name in ("username", "password")
            if not isinstance(data.get(name), str) or not data.get(name)
        }
        if errors:
            raise InvalidRequest(errors)
    except InvalidRequest as exc:
        return JsonResponse({"error": "invalid_request", "errors": exc.errors}, status=400)
    # `request` lets django-axes see the client and refuse locked-out ones (AxesMiddleware -> 429).
    user = authenticate(request, username=data["username"], password=data["password"])
    if user is None:
        return error_response(401, "invalid_credentials", "Username or password is incorrect.")
    login(request, user)
    return JsonResponse({"username": user.get_username(), "csrfToken": get_token(request)})


@require_POST
def api_logout(request: HttpRequest) -> JsonResponse:
    logout(request)
    return JsonResponse({"detail": "Logged out."})


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a JSON 403 for the API (the default HTML page for the rest)."""
    if request.path.startswith("/api/"):
        return error_response(403, "csrf_failed", f"CSRF verification failed: {reason}")
    from django.views.csrf import csrf_failure as default_csrf_failure

    return default_csrf_failure(request, reason)
