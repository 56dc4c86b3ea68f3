"""Load test of the deployed app (issue 7): log in, create customers with sensitive fields, read them
back, search by the encrypted e-mail (blind index, POST /api/customers/search/, paced under the app's
per-user search limit), and check every answer.

Run through `make loadtest ENV=local` (scripts/kit/loadtest.py), which creates the two users, picks the
target and passes, in the environment:

  LOADTEST_TARGET       proxy (HTTPS through the web server on loopback) or direct (gunicorn's socket)
  LOADTEST_SITE_NAME    the site's name: SNI, certificate check and Host header (app.soc2kit.test)
  LOADTEST_CA_FILE      proxy: the CA of the site's certificate (the only CA trusted)
  LOADTEST_SOCKET       direct: path of gunicorn's unix socket as seen from this machine
  LOADTEST_CREDENTIALS  JSON file {"editor": {"username", "password"}, "masked": {...}} (mode 0600)
  LOADTEST_WAIT_SECONDS think time between tasks (default 0: closed loop, measures the server)
  LOADTEST_SEARCHES_PER_MINUTE  editors' searches per minute, all users together (default 4)
  LOADTEST_CLIENT_USAGE optional: file where the generator's own CPU use is written at the end

Users: `EditorUser` (groups customer_editor + customer_reader_full: writes, reads back in full) and
`MaskedReaderUser` (customer_reader_masked: reads only - exact-match search needs the full reader's
permission - and must never receive a full value). A check that fails
marks its request failed, with a message that names fields, never values.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import random
import resource
import time
from pathlib import Path
from typing import Any

# locust puts this file's folder on sys.path while it imports the file, so its sibling modules import.
from checks import (
    DEFAULT_SEARCHES_PER_MINUTE,
    SearchPacer,
    full_view_problems,
    login_failure,
    masked_view_problems,
    new_customer,
    search_failure,
    unknown_record_masked_problems,
)
from gevent.lock import Semaphore
from locust import HttpUser, constant, events, task
from locust.exception import StopUser
from transport import LoopbackSiteAdapter, UnixSocketAdapter

TARGETS = ("proxy", "direct")
COLLECTION = "/api/customers/"
SEARCH = "/api/customers/search/"
# Records written by editors in this run, for the masked readers to look up (bounded).
WRITTEN: collections.deque[dict[str, Any]] = collections.deque(maxlen=2000)
RUN_ID = time.strftime("%H%M%S")
_sequence = itertools.count(1)


# One login per role per run, shared by that role's users (like several tabs of one person): the web
# server limits logins per client address (nginx: 10/min, burst 5), and every user here comes from
# 127.0.0.1. Each entry holds the logged-in cookie jar and the CSRF token.
_role_sessions: dict[str, dict[str, Any]] = {}
_login_lock = Semaphore()

_client_start: dict[str, float] = {}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@events.test_start.add_listener
def _mark_client_start(environment: Any, **kwargs: Any) -> None:
    _client_start.update(wall=time.monotonic(), cpu=_cpu_seconds())


@events.quitting.add_listener
def _write_client_usage(environment: Any, **kwargs: Any) -> None:
    """The load generator's own mean CPU use over the run (%, one core = 100; locust uses one core):
    near 100 means the client, not the server, may have limited the throughput."""
    path = os.environ.get("LOADTEST_CLIENT_USAGE")
    if path and _client_start:
        wall = time.monotonic() - _client_start["wall"]
        cpu = _cpu_seconds() - _client_start["cpu"]
        Path(path).write_text(
            json.dumps({"cpu_percent_mean": 100 * cpu / wall if wall else 0.0}), encoding="utf-8"
        )


def _setting(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(f"{name} is not set; run the load test with `make loadtest ENV=local`")
    return value


def _credentials(role: str) -> dict[str, str]:
    path = Path(_setting("LOADTEST_CREDENTIALS"))
    data = json.loads(path.read_text(encoding="utf-8"))
    if role not in data:
        raise RuntimeError(f"{path} has no credentials for role {role!r}")
    return data[role]


TARGET = os.environ.get("LOADTEST_TARGET", "")
if TARGET not in TARGETS:  # fail at load time, before any user starts
    raise SystemExit(f"LOADTEST_TARGET={TARGET!r}: set proxy or direct (`make loadtest ENV=local` sets it)")
# One pace for all the editors of this process: they share one account, and the app limits searches per
# account (the runner checks the setting's range).
SEARCHES = SearchPacer(float(os.environ.get("LOADTEST_SEARCHES_PER_MINUTE", DEFAULT_SEARCHES_PER_MINUTE)))


class SiteUser(HttpUser):
    abstract = True
    wait_time = constant(float(os.environ.get("LOADTEST_WAIT_SECONDS", "0")))
    role = ""

    def on_start(self) -> None:
        self._configure_transport()
        self.rng = random.Random()  # noqa: S311 (test data, not secrets)
        self._adopt_role_session()

    def _configure_transport(self) -> None:
        site_name = _setting("LOADTEST_SITE_NAME")
        session = self.client
        session.trust_env = False  # no proxy variables, no REQUESTS_CA_BUNDLE: loopback only
        session.headers["Host"] = site_name
        # Django's CSRF check on HTTPS wants a same-site Referer when there is no Origin header.
        session.headers["Referer"] = f"https://{site_name}/"
        if TARGET == "proxy":
            session.mount("https://", LoopbackSiteAdapter(site_name, _setting("LOADTEST_CA_FILE")))
        else:
            session.mount("https://", UnixSocketAdapter(_setting("LOADTEST_SOCKET")))
            # What the web server adds to every proxied request.
            session.headers["X-Forwarded-Proto"] = "https"
            session.headers["X-Forwarded-For"] = "127.0.0.1"

    def _adopt_role_session(self) -> None:
        with _login_lock:
            if self.role not in _role_sessions:
                self._login()
                _role_sessions[self.role] = {"cookies": self.client.cookies.copy(), "csrf": self.csrf_token}
                return
        shared = _role_sessions[self.role]
        self.client.cookies.update(shared["cookies"])
        self.csrf_token = shared["csrf"]

    def _login(self) -> None:
        creds = _credentials(self.role)
        with self.client.get("/api/auth/csrf/", name="login: GET /api/auth/csrf/", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"csrf endpoint answered {r.status_code}")
                raise StopUser
            token = r.json()["csrfToken"]
        with self.client.post(
            "/api/auth/login/",
            json={"username": creds["username"], "password": creds["password"]},
            headers={"X-CSRFToken": token},
            name="login: POST /api/auth/login/",
            catch_response=True,
        ) as r:
            if r.status_code != 200:
                r.failure(login_failure(self.role, r.status_code))
                raise StopUser
            self.csrf_token = r.json()["csrfToken"]  # rotated on login

    def _json(self, response: Any) -> Any:
        try:
            return response.json()
        except ValueError:
            return None


class EditorUser(SiteUser):
    """customer_editor + customer_reader_full: creates records and reads them back in full."""

    weight = 3
    role = "editor"

    @task
    def create_read_search(self) -> None:
        written = new_customer(RUN_ID, next(_sequence), self.rng)
        with self.client.post(
            COLLECTION,
            json=written,
            headers={"X-CSRFToken": self.csrf_token},
            name="POST /api/customers/",
            catch_response=True,
        ) as r:
            created = self._json(r)
            if r.status_code != 201 or not isinstance(created, dict) or "id" not in created:
                r.failure(f"create answered {r.status_code}")
                return
            problems = full_view_problems(written, created)
            if problems:
                r.failure("; ".join(problems))
                return
        customer_id = created["id"]
        with self.client.get(
            f"{COLLECTION}{customer_id}/", name="GET /api/customers/[id]/", catch_response=True
        ) as r:
            problems = (
                [f"read answered {r.status_code}"]
                if r.status_code != 200
                else full_view_problems(written, self._json(r))
            )
            if problems:
                r.failure("; ".join(problems))
                return
        if SEARCHES.due() and not self._search_finds(written, customer_id):
            return
        WRITTEN.append({"id": customer_id, **written})

    def _search_finds(self, written: dict[str, Any], customer_id: int) -> bool:
        """Search the record just written by its e-mail: exactly it must come back, in full."""
        with self.client.post(
            SEARCH,
            json={"email": written["email"]},
            headers={"X-CSRFToken": self.csrf_token},
            name=f"POST {SEARCH}",
            catch_response=True,
        ) as r:
            page = self._json(r)
            if r.status_code != 200 or not isinstance(page, dict):
                r.failure(search_failure(r.status_code))
                return False
            matches = [item for item in page.get("results", []) if item.get("id") == customer_id]
            if page.get("count") != 1 or len(matches) != 1:
                r.failure(
                    f"search by e-mail found {page.get('count')} records, expected exactly the one written"
                )
                return False
            problems = full_view_problems(written, matches[0])
            if problems:
                r.failure("; ".join(problems))
                return False
        return True


class MaskedReaderUser(SiteUser):
    """customer_reader_masked: reads the editors' records and lists; it cannot search (exact-match
    search is the full reader's). Any full value in an answer fails the request."""

    weight = 1
    role = "masked"

    @task
    def read_masked(self) -> None:
        if not WRITTEN:
            self._list_masked()
            return
        written = self.rng.choice(WRITTEN)
        with self.client.get(
            f"{COLLECTION}{written['id']}/", name="masked: GET /api/customers/[id]/", catch_response=True
        ) as r:
            problems = (
                [f"read answered {r.status_code}"]
                if r.status_code != 200
                else masked_view_problems(written, self._json(r), r.text)
            )
            if problems:
                r.failure("; ".join(problems))

    def _list_masked(self) -> None:
        with self.client.get(
            COLLECTION, params={"page_size": 20}, name="masked: GET /api/customers/", catch_response=True
        ) as r:
            page = self._json(r)
            if r.status_code != 200 or not isinstance(page, dict):
                r.failure(f"list answered {r.status_code}")
                return
            problems = [
                p for record in page.get("results", []) for p in unknown_record_masked_problems(record)
            ]
            if problems:
                r.failure("; ".join(sorted(set(problems))))
