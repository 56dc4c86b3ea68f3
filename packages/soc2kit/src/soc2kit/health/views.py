"""Probes for the load balancer and the deploy scripts.

/healthz: the process answers (no database, no keys) -> 200 {"status": "ok"}.
/readyz: the database answers a trivial query and the field-encryption keys load -> 200, else 503
naming each failing dependency (never the error's secrets: only its type and a short reason).
Both are exempt from the HTTPS redirect (production.py) so they work over the local unix socket.
"""

import logging

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from soc2kit.encryption.keyring import check_keys_loadable

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except Exception as exc:
        logger.error("readiness: database unreachable: %s", type(exc).__name__)
        checks["database"] = f"failed: {type(exc).__name__}"
    try:
        check_keys_loadable()
        checks["encryption_keys"] = "ok"
    except Exception as exc:
        logger.error("readiness: encryption keys not loadable: %s", exc)
        checks["encryption_keys"] = f"failed: {type(exc).__name__}"
    failing = sorted(name for name, state in checks.items() if state != "ok")
    if failing:
        return JsonResponse({"status": "unavailable", "failing": failing, "checks": checks}, status=503)
    return JsonResponse({"status": "ok", "checks": checks})
