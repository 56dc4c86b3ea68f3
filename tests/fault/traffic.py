"""Clients of the running local stack for the fault tests: an HTTPS session through the web server on
loopback, and steady background traffic that records the outcome and timing of every request."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from kit.running_stack import SITE_NAME, RunningStack
from transport import LoopbackSiteAdapter

TIMEOUT = (5, 60)  # connect, read (seconds)


class SiteSession(requests.Session):
    """requests to https://127.0.0.1:<port> with SNI/Host of the site, trusting only the site's CA."""

    def __init__(self, stack: RunningStack, ca_file: Path | None = None) -> None:
        super().__init__()
        self.trust_env = False  # loopback only: no proxy variables, no system CA bundle
        self.base_url = stack.https_url
        self.headers.update({"Host": SITE_NAME, "Referer": f"https://{SITE_NAME}/"})
        self.mount("https://", LoopbackSiteAdapter(SITE_NAME, str(ca_file or stack.ca_file)))
        self.csrf_token = ""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        if isinstance(url, str) and url.startswith("/"):
            url = self.base_url + url
        if self.csrf_token and method.upper() not in ("GET", "HEAD"):
            kwargs.setdefault("headers", {}).setdefault("X-CSRFToken", self.csrf_token)
        return super().request(method, url, *args, **kwargs)

    def login(self, username: str, password: str) -> requests.Response:
        """The API login (CSRF token first); keeps the rotated token for later writes."""
        token = self.get("/api/auth/csrf/").json()["csrfToken"]
        response = self.post(
            "/api/auth/login/",
            json={"username": username, "password": password},
            headers={"X-CSRFToken": token},
        )
        if response.status_code == 200:
            self.csrf_token = response.json()["csrfToken"]
        return response


@dataclass(frozen=True)
class Outcome:
    started: float
    ended: float
    status: int | None  # None: no HTTP answer (connection error, timeout)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else self.error


class SteadyTraffic:
    """`threads` clients each sending GET `path` back to back (or every `interval` s) until stopped."""

    def __init__(self, stack: RunningStack, path: str, *, threads: int = 6, interval: float = 0.0) -> None:
        self.stack, self.path, self.interval = stack, path, interval
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(threads)]

    def __enter__(self) -> SteadyTraffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=max(TIMEOUT) + 5)

    def _client(self) -> None:
        session = SiteSession(self.stack)
        while not self._stop.is_set():
            started = time.time()
            try:
                status, error = session.get(self.path).status_code, ""
            except requests.RequestException as exc:
                status, error = None, type(exc).__name__
                session.close()
                session = SiteSession(self.stack)
            with self._lock:
                self.outcomes.append(Outcome(started, time.time(), status, error))
            if self.interval:
                self._stop.wait(self.interval)
        session.close()

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def failures(self) -> list[Outcome]:
        return [o for o in self.snapshot() if not o.ok]


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    return {
        "requests": len(outcomes),
        "failed": sum(not o.ok for o in outcomes),
        "by_result": dict(Counter(o.describe() for o in outcomes)),
    }
