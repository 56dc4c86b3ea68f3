"""Guards on exact-match customer search, which would otherwise be an oracle: given a masked record
(``****6789``), a reader could confirm guesses of the full value one search at a time.

- A per-user rate limit (a fixed window counted in Django's cache).
- An alert when one user searches many distinct values within a window (enumeration).

The counters live in the ``default`` cache, which settings make a DatabaseCache on PostgreSQL: it is
shared by every gunicorn worker and every app host, where a per-process LocMem cache would give each
worker its own count. The cache's get-then-set is not atomic, so callers hold a lock on the user's row
(``search_lock``) while they count: concurrent searches by one user are counted one after the other.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from soc2kit.observability.alerts import raise_alert


def search_lock(user: Any) -> None:
    """Serialise this user's searches until the surrounding transaction ends."""
    get_user_model().objects.select_for_update().filter(pk=user.pk).exists()


def seconds_until_allowed(user: Any, *, now: float | None = None) -> int:
    """Count one search for ``user``; return 0 when it is within the limit, else the seconds to wait."""
    now = time.time() if now is None else now
    window = int(settings.CUSTOMER_SEARCH_RATE_WINDOW.total_seconds())
    bucket = int(now // window)
    key = f"customer-search-rate:{user.pk}:{bucket}"
    count = cache.get(key, 0) + 1
    cache.set(key, count, timeout=window + 1)
    if count <= settings.CUSTOMER_SEARCH_RATE_LIMIT:
        return 0
    return max(1, math.ceil((bucket + 1) * window - now))


def note_searched_value(user: Any, field: str, index_value: str, *, now: float | None = None) -> int:
    """Remember (as a digest of its blind index, never the value) what ``user`` searched; raise the
    enumeration alert when the number of distinct values within the window reaches the threshold.
    Return that number."""
    now = time.time() if now is None else now
    window = settings.CUSTOMER_SEARCH_ALERT_WINDOW.total_seconds()
    key = f"customer-search-values:{user.pk}"
    digest = hashlib.sha256(f"{field}:{index_value}".encode()).hexdigest()[:24]
    seen: dict[str, float] = {item: when for item, when in cache.get(key, {}).items() if when > now - window}
    is_new = digest not in seen
    seen[digest] = now
    cache.set(key, seen, timeout=int(window) + 1)
    threshold = settings.CUSTOMER_SEARCH_ALERT_DISTINCT_VALUES
    if is_new and len(seen) == threshold:  # once per burst, not on every further search
        raise_alert(
            "search_enumeration",
            f"user {user.get_username()} searched {threshold} distinct customer values within "
            f"{settings.CUSTOMER_SEARCH_ALERT_WINDOW}; exact-match search may be used to enumerate "
            "personal data",
            user_id=user.pk,
            distinct_values=threshold,
        )
    return len(seen)
