"""Small JSON helpers shared by the API views."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, JsonResponse

MAX_BODY_BYTES = 64 * 1024


class InvalidRequest(Exception):
    """Raised by views; becomes a 400 with ``errors`` (field -> messages). Messages never echo values."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("invalid request")
        self.errors = errors


def error_response(status: int, code: str, detail: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail, **extra}, status=status)


def json_object_body(request: HttpRequest) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise InvalidRequest({"body": ["Send a JSON object with Content-Type: application/json."]})
    if len(request.body) > MAX_BODY_BYTES:
        raise InvalidRequest({"body": [f"Body larger than {MAX_BODY_BYTES} bytes."]})
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest({"body": ["Body is not valid JSON."]}) from None
    if not isinstance(data, dict):
        raise InvalidRequest({"body": ["Body must be a JSON object."]})
    try:  # JSON may escape a lone UTF-16 surrogate ("\ud800"), which no database or cipher can encode
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(
            {"body": ["Body contains a lone UTF-16 surrogate (\\ud800-\\udfff escape); send valid Unicode."]}
        ) from None
    return data
