"""A logging filter that removes secrets and personal data from every record before any handler
formats it: the message and its arguments, extra attributes, and exception/stack text.

Records about a request (Django's ``django.request`` and ``django.security.*`` warnings carry the
request as an extra and its decoded path as an argument) first lose both: the path becomes the
matched URL route (``/api/customers/<int:pk>/``), or only its first segment when no route matched
(a 404), and the request object becomes its method. A path can hold any value a client typed, in
any spelling (``AB 12 34 56 C``), so no pattern could be trusted to catch it.

Then two mechanisms:
- by key: values under keys that name a secret or personal field (password, token, authorization,
  cookie, email, national_id, ...) in dicts and extra attributes are replaced whole;
- by pattern: inside any text, e-mail addresses, bearer/basic credentials, Authorization/Cookie
  header values, key=value pairs with a sensitive key, long digit runs (id numbers), and the
  literal values of the configured secrets (SECRET_KEY, database password, key material).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[REDACTED]"

SENSITIVE_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|authori[sz]ation|cookie|session|csrf|credential|"
    r"private[_-]?key|e[_-]?mail|national[_-]?id|ssn|date[_-]?of[_-]?birth|dob|notes|full[_-]?name|"
    r"(^|[_-])key$|kek|blind[_-]?index",
    re.I,
)

_TEXT_PATTERNS = [
    # Authorization: Bearer xyz / Cookie: a=b; c=d / X-Api-Key: ... up to the end of the line or quote
    re.compile(
        r"(?i)\b((?:http_)?(?:authorization|proxy[_-]authorization|cookie|set[_-]cookie|x[_-]api[_-]key)\b['\"]?\s*[:=]\s*)['\"]?[^\n'\"]+"
    ),
    re.compile(r"(?i)\b((?:bearer|basic|token)\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # key=value / "key": "value" pairs whose key is sensitive
    re.compile(
        r"(?i)([\"']?\b[\w-]*(?:password|passwd|secret|token|api[_-]?key|csrf\w*|sessionid|national[_-]?id|email)"
        r"[\"']?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;}\]]+)"
    ),
    re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),  # e-mail addresses
    # 9+ digits, maybe grouped by spaces/dashes: national id, card and account numbers (not timestamps)
    re.compile(r"\b(?:\d[ -]?){8,}\d\b(?![:.]\d)"),
    re.compile(r"\b[A-Z]{1,3}\d{6,}[A-Z]?\b"),  # letter-prefixed id numbers (passport, NINO style)
    re.compile(r"\bpostgres(?:ql)?://[^\s'\"]+"),  # connection strings carry passwords
]

_LOGRECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _known_secret_values() -> list[str]:
    """Literal values of configured secrets, longest first, read lazily (settings may not be ready)."""
    try:
        from django.conf import settings

        if not settings.configured:
            return []
        values: list[str] = [getattr(settings, "SECRET_KEY", "")]
        for database in getattr(settings, "DATABASES", {}).values():
            values.append(str(database.get("PASSWORD") or ""))
        encryption = getattr(settings, "FIELD_ENCRYPTION", {}) or {}
        for name in ("LOCAL_KEKS", "BLIND_INDEX_KEY"):
            values.append(str(encryption.get(name) or ""))
        values.extend(_extract_base64_keys(str(encryption.get("LOCAL_KEKS") or "")))
    except Exception:  # logging must never fail because settings are broken
        return []
    return sorted({value for value in values if len(value) >= 8}, key=len, reverse=True)


def _extract_base64_keys(document: str) -> Iterable[str]:
    return re.findall(r"[A-Za-z0-9+/]{40,}={0,2}", document)


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    for secret in _known_secret_values() if secrets is None else secrets:
        text = text.replace(secret, REDACTED)
    for pattern in _TEXT_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: (m.group(1) or "") + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


def redact_value(value: Any, secrets: list[str], depth: int = 0) -> Any:
    if depth > 6:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, dict):
        return {
            key: REDACTED
            if isinstance(key, str) and SENSITIVE_KEY.search(key)
            else redact_value(item, secrets, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item, secrets, depth + 1) for item in value]
    # Anything else (a request object, an exception, a model instance) is logged as its redacted text.
    return redact_text(str(value), secrets)


def loggable_path(request: Any) -> str:
    """The request's URL route, never its values: ``/api/customers/<int:pk>/``, or for a path that
    matched no route its first segment (``/api/[REDACTED]``)."""
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None)
    if route is not None:
        return "/" + route.lstrip("^").rstrip("$")
    first, _, rest = str(getattr(request, "path", "")).lstrip("/").partition("/")
    if not first:
        return "/"
    return f"/{first}/{REDACTED}" if rest else f"/{REDACTED}"


def _scrub_request(record: logging.LogRecord) -> None:
    """Replace the request extra and any argument that is its path (see the module's docstring)."""
    request = record.__dict__.get("request")
    if request is None or isinstance(request, str):  # none, or already scrubbed by another handler
        return
    path_forms: set[str] = set()
    for name in ("path", "path_info"):
        value = getattr(request, name, None)
        if isinstance(value, str):
            path_forms |= {value, value.encode("unicode_escape").decode("ascii")}
    get_full_path = getattr(request, "get_full_path", None)
    if callable(get_full_path):
        path_forms.add(get_full_path())
    if path_forms and isinstance(record.args, tuple):
        safe = loggable_path(request)
        record.args = tuple(
            safe if isinstance(arg, str) and arg in path_forms else arg for arg in record.args
        )
    method = getattr(request, "method", None)
    record.request = str(method) if isinstance(method, str) else REDACTED


class RedactionFilter(logging.Filter):
    """Rewrites the record in place; never drops it."""

    def filter(self, record: logging.LogRecord) -> bool:
        _scrub_request(record)
        secrets = _known_secret_values()
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw template
            message = str(record.msg)
        record.msg = redact_text(message, secrets)
        record.args = None
        for name in list(vars(record)):
            if name in _LOGRECORD_ATTRS:
                continue
            if SENSITIVE_KEY.search(name):
                setattr(record, name, REDACTED)
            else:
                setattr(record, name, redact_value(getattr(record, name), secrets))
        if record.exc_info:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info), secrets)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info, secrets)
        return True
