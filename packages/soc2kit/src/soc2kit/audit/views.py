"""handler403: every PermissionDenied raised outside the API (the admin, for one) is audited too."""

from django.http import HttpRequest, HttpResponse
from django.views import defaults

from .recorder import record_denial


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    record_denial(request, reason="permission_denied")
    return defaults.permission_denied(request, exception)
