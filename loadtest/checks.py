"""What the load test writes and how it judges each answer (pure functions, unit-tested in tests/).

A full-view answer must give back exactly the values written. A masked answer must carry the masked
forms the API documents (app/README.md: `A*** E***`, `a***@example.com`, `****6789`), no notes and no
date of birth, and none of the full values anywhere in the raw body.
"""

from __future__ import annotations

import datetime
import random
import re
import time
import uuid
from typing import Any

# Fields a full-view answer returns as written (date_of_birth as YYYY-MM-DD).
FULL_FIELDS = ("full_name", "email", "national_id", "date_of_birth", "notes")
# Fields a masked answer must not carry at all.
HIDDEN_WHEN_MASKED = ("date_of_birth", "notes")


def login_failure(role: str, status: int) -> str:
    """Why the load test could not log in; a rate-limited login says when to try again."""
    message = f"login of the {role} user answered {status}"
    if status == 429:
        message += (
            " (the web server's login rate limit for this client address is used up, most likely by a"
            " run or the deploy's verify step in the last minute; wait 60 s and run again)"
        )
    return message


# The app's per-user search limit (DJANGO_CUSTOMER_SEARCH_RATE_LIMIT, default 10 a minute) counts in
# fixed minute windows, and every editor of a run shares one account. The proxy and the direct run follow
# each other, so one window may hold the end of one and the start of the next: the default pace is at
# most half the limit.
DEFAULT_SEARCHES_PER_MINUTE = 4


class SearchPacer:
    """Lets a search through at most `per_minute` times a minute, evenly spaced, across all the users of
    one locust process (gevent: no thread switch between the check and the update)."""

    def __init__(self, per_minute: float, clock=None) -> None:
        if not 0 <= per_minute <= 60:
            raise ValueError(f"searches per minute {per_minute!r}: use 0 (no search) to 60")
        self.interval = 60 / per_minute if per_minute else None
        self.clock = clock or time.monotonic
        self.next_at: float | None = None

    def due(self) -> bool:
        if self.interval is None:
            return False
        now = self.clock()
        if self.next_at is not None and now < self.next_at:
            return False
        self.next_at = now + self.interval
        return True


def search_failure(status: int) -> str:
    """Why a search failed; a rate-limited one says which setting to lower."""
    message = f"search answered {status}"
    if status == 429:
        message += (
            " (the app's per-user search limit, DJANGO_CUSTOMER_SEARCH_RATE_LIMIT, is used up: lower"
            " LOADTEST_SEARCHES_PER_MINUTE to at most half of it)"
        )
    return message


def new_customer(run_id: str, sequence: int, rng: random.Random) -> dict[str, Any]:
    """A customer with sensitive values unique to this run and request (so a leak is unambiguous)."""
    token = uuid.UUID(int=rng.getrandbits(128)).hex[:12]
    birth = datetime.date(1950, 1, 1) + datetime.timedelta(days=rng.randrange(0, 365 * 50))
    return {
        "full_name": f"Loadtest Person{sequence} {token.capitalize()}",
        "email": f"lt-{run_id}-{sequence}-{token}@example.com",
        "national_id": f"LT-{rng.randrange(10**8, 10**9)}-{token[:4].upper()}",
        "date_of_birth": birth.isoformat(),
        "notes": f"loadtest note {token} (sensitive)",
    }


# The documented masked forms, written out again on purpose rather than imported from
# app/soc2kit/customers/serializers.py: the load test is an independent oracle of the deployed API, so a
# change to the app's masking that breaks the documented form fails here instead of being followed here.
def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_national_id(national_id: str) -> str:
    compact = re.sub(r"[\s-]", "", national_id)
    return "****" + compact[-4:] if len(compact) > 4 else "****"


def mask_name(full_name: str) -> str:
    return " ".join(f"{word[:1]}***" for word in full_name.split())


def full_view_problems(written: dict[str, Any], returned: Any) -> list[str]:
    """Why a full-view answer does not give back what was written (empty list: it does)."""
    if not isinstance(returned, dict):
        return [f"answer is not a JSON object: {type(returned).__name__}"]
    problems = []
    if returned.get("masked") is not False:
        problems.append(f"expected the full view (masked=false), got masked={returned.get('masked')!r}")
    for name in FULL_FIELDS:
        if returned.get(name) != written[name]:
            problems.append(f"{name} read back differs from the value written")
    return problems


def masked_view_problems(written: dict[str, Any], returned: Any, raw_body: str) -> list[str]:
    """Why a masked answer is not the documented masked form, or leaks a full value (empty list: fine).

    The messages name fields, never values, so the load test's report holds no sensitive value.
    """
    if not isinstance(returned, dict):
        return [f"answer is not a JSON object: {type(returned).__name__}"]
    problems = []
    if returned.get("masked") is not True:
        problems.append(f"expected the masked view (masked=true), got masked={returned.get('masked')!r}")
    expected = {
        "full_name": mask_name(written["full_name"]),
        "email": mask_email(written["email"]),
        "national_id": mask_national_id(written["national_id"]),
    }
    for name, value in expected.items():
        if returned.get(name) != value:
            problems.append(f"{name} is not the masked form")
    problems.extend(f"{name} present in a masked answer" for name in HIDDEN_WHEN_MASKED if name in returned)
    problems.extend(full_value_leaks(written, raw_body))
    return problems


def full_value_leaks(written: dict[str, Any], raw_body: str) -> list[str]:
    """Names of the written values that appear in clear anywhere in a body meant to be masked."""
    body = raw_body.lower()
    leaks = []
    for name in ("full_name", "email", "national_id", "notes"):
        if str(written[name]).lower() in body:
            leaks.append(f"full value of {name} leaked to the masked role")
    if written["date_of_birth"] in raw_body:
        leaks.append("full value of date_of_birth leaked to the masked role")
    return leaks


def unknown_record_masked_problems(record: Any) -> list[str]:
    """A record of a page listed by the masked role (values unknown): it must look masked."""
    if not isinstance(record, dict):
        return ["record is not a JSON object"]
    problems = []
    if record.get("masked") is not True:
        problems.append("record in a masked listing is not masked")
    if not re.fullmatch(r"[^@]?\*\*\*@[^@]+", str(record.get("email", ""))):
        problems.append("email in a masked listing is not of the form a***@domain")
    if not re.fullmatch(r"\*{4}[A-Za-z0-9]{0,4}", str(record.get("national_id", ""))):
        problems.append("national_id in a masked listing is not of the form ****1234")
    problems.extend(f"{name} present in a masked listing" for name in HIDDEN_WHEN_MASKED if name in record)
    return problems
