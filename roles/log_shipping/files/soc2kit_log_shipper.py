"""rsyslog -> CloudWatch Logs: the program behind the log_shipping role's omprog action.

rsyslog runs it with `confirmMessages="on"` and `useTransactions="on"` and talks to it over
stdin/stdout, one line each way (rsyslog's omprog protocol):

    shipper -> rsyslog   OK                    ready (once, after start-up)
    rsyslog -> shipper   BEGIN TRANSACTION     answered OK
    rsyslog -> shipper   <one JSON message>    answered DEFER_COMMIT (kept in memory, not yet stored)
    rsyslog -> shipper   COMMIT TRANSACTION    answered OK only once every message of the batch is
                                               stored in CloudWatch Logs; otherwise one error line,
                                               and rsyslog keeps the whole batch in its disk queue
                                               and sends it again later (at-least-once)

Individual messages are never refused (rsyslog retries only the refused message of a transaction,
not the deferred ones before it), so every failure is reported at COMMIT, where rsyslog retries the
whole batch. Each message goes to one of four log groups (app, web, audit, system), into the log
stream named after the host, which is created when missing; log groups are never created (the
Pulumi stack owns them, their KMS key and retention). Credentials come from boto3's default chain:
the EC2 instance role on AWS, nothing stored on the host.

Standard library and boto3 only; configuration from a JSON file (--config), rendered by the role.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

BEGIN = "BEGIN TRANSACTION"
COMMIT = "COMMIT TRANSACTION"
KINDS = ("app", "web", "audit", "system")

# PutLogEvents limits (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html):
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576  # sum of the UTF-8 message sizes plus 26 bytes per event
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 262_144  # one event, overhead included; longer messages are truncated
MAX_SPAN_MS = 24 * 3600 * 1000  # first to last event of one call
# Events older than 14 days or more than 2 hours ahead are rejected: such times are clamped.
MAX_AGE_MS = 14 * 24 * 3600 * 1000 - 3600 * 1000
MAX_AHEAD_MS = 2 * 3600 * 1000 - 300 * 1000
TRUNCATED = " [truncated by soc2kit-log-shipper]"

# Error codes worth another attempt within the same commit (throttling, service-side trouble).
RETRYABLE_CODES = {
    "ThrottlingException",
    "Throttling",
    "ServiceUnavailableException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalServerError",
    "RequestTimeout",
    "RequestTimeoutException",
    "LimitExceededException",
}

DEFAULT_ROUTES: dict[str, list[str]] = {
    "app_programs": ["django-app", "gunicorn"],
    "audit_programs": ["auditd"],
    "audit_loggers": ["soc2kit.audit", "soc2kit.alerts"],
    "web_programs": ["nginx-access", "nginx-error", "apache-access", "apache-error", "nginx", "apache2"],
}

log = logging.getLogger("soc2kit-log-shipper")


class ShipError(Exception):
    """The batch could not be stored; the message is one line, sent back to rsyslog."""


@dataclass(frozen=True)
class Event:
    kind: str
    timestamp: int  # ms since the epoch
    message: str

    @property
    def size(self) -> int:
        return len(self.message.encode("utf-8")) + EVENT_OVERHEAD


@dataclass
class Config:
    region: str
    log_groups: dict[str, str]
    log_stream: str
    endpoint_url: str | None = None
    ca_bundle: str | None = None
    routes: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_ROUTES))
    retry_seconds: float = 30.0
    failure_pause_seconds: float = 5.0
    environment: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str) -> Config:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        groups = data.get("log_groups") or {}
        missing = [kind for kind in KINDS if not groups.get(kind)]
        if missing:
            raise ValueError(f"{path}: log_groups lacks {', '.join(missing)}")
        if not data.get("region") or not data.get("log_stream"):
            raise ValueError(f"{path}: region and log_stream are required")
        return cls(
            region=data["region"],
            log_groups={kind: groups[kind] for kind in KINDS},
            log_stream=data["log_stream"],
            endpoint_url=data.get("endpoint_url") or None,
            ca_bundle=data.get("ca_bundle") or None,
            routes={**DEFAULT_ROUTES, **(data.get("routes") or {})},
            retry_seconds=float(data.get("retry_seconds", 30)),
            failure_pause_seconds=float(data.get("failure_pause_seconds", 5)),
            environment={str(k): str(v) for k, v in (data.get("environment") or {}).items()},
        )


def route(record: dict[str, Any], routes: dict[str, list[str]]) -> str:
    """The log group kind of one message: app, web, audit or system."""
    program = str(record.get("program", ""))
    if program in routes["audit_programs"]:
        return "audit"
    if program in routes["web_programs"]:
        return "web"
    if program in routes["app_programs"]:
        logger_name = _json_object(str(record.get("msg", ""))).get("logger")
        if isinstance(logger_name, str) and any(
            logger_name == name or logger_name.startswith(name + ".") for name in routes["audit_loggers"]
        ):
            return "audit"
        return "app"
    return "system"


def _json_object(text: str) -> dict[str, Any]:
    text = text.strip()
    if not text.startswith("{"):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _timestamp(value: Any, now_ms: int) -> int:
    try:
        parsed = int(datetime.fromisoformat(str(value)).timestamp() * 1000)
    except (TypeError, ValueError):
        return now_ms
    return min(max(parsed, now_ms - MAX_AGE_MS), now_ms + MAX_AHEAD_MS)


def _truncate(message: str) -> str:
    limit = MAX_EVENT_BYTES - EVENT_OVERHEAD
    data = message.encode("utf-8")
    if len(data) <= limit:
        return message
    keep = limit - len(TRUNCATED.encode("utf-8"))
    return data[:keep].decode("utf-8", errors="ignore") + TRUNCATED


def to_event(line: str, routes: dict[str, list[str]], now_ms: int) -> Event:
    """One line from rsyslog (the role's JSON template) as a CloudWatch event of the right kind."""
    record = _json_object(line)
    if not record:  # not our template (should not happen): keep the line, ship it as system
        return Event("system", now_ms, _truncate(line) or "-")
    msg = str(record.get("msg", ""))
    if _json_object(msg):
        message = msg.strip()  # JSON lines (app, web access) stay JSON for Logs Insights
    else:
        prefix = ".".join(p for p in (record.get("facility"), record.get("severity")) if p)
        tag = str(record.get("tag", "")).strip()
        message = " ".join(p for p in (prefix, tag, msg.strip()) if p)
    return Event(route(record, routes), _timestamp(record.get("time"), now_ms), _truncate(message) or "-")


def batches(events: Iterable[Event]) -> Iterator[list[Event]]:
    """Events sorted by time, cut into PutLogEvents calls within the count, size and 24 h limits."""
    batch: list[Event] = []
    size = 0
    for event in sorted(events, key=lambda e: e.timestamp):
        if batch and (
            len(batch) >= MAX_BATCH_EVENTS
            or size + event.size > MAX_BATCH_BYTES
            or event.timestamp - batch[0].timestamp > MAX_SPAN_MS
        ):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += event.size
    if batch:
        yield batch


class CloudWatchWriter:
    """Writes batches into the configured groups, one stream per host, retrying throttling with backoff."""

    def __init__(
        self,
        config: Config,
        client: Any,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.client = client
        self.sleep = sleep
        self.clock = clock
        self.streams_ready: set[str] = set()

    def ship(self, events: list[Event]) -> None:
        """Stores every event, or raises ShipError (then none of them counts as stored)."""
        deadline = self.clock() + self.config.retry_seconds
        for kind in KINDS:
            of_kind = [e for e in events if e.kind == kind]
            for batch in batches(of_kind):
                self._put(self.config.log_groups[kind], batch, deadline)

    def _put(self, group: str, batch: list[Event], deadline: float) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        delay = 0.2
        while True:
            try:
                self._ensure_stream(group)
                response = self.client.put_log_events(
                    logGroupName=group,
                    logStreamName=self.config.log_stream,
                    logEvents=[{"timestamp": e.timestamp, "message": e.message} for e in batch],
                )
                rejected = response.get("rejectedLogEventsInfo")
                if rejected:  # never accepted however often it is sent: reported, not retried
                    log.warning("%s: CloudWatch rejected some events: %s", group, json.dumps(rejected))
                return
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if code == "ResourceNotFoundException":
                    self.streams_ready.discard(group)  # stream deleted meanwhile: create it again
                    problem = f"{group}: {code}"
                elif code in RETRYABLE_CODES:
                    problem = f"{group}: {code}"
                else:
                    raise ShipError(f"{group}: {code}: {_one_line(error)}") from error
            except BotoCoreError as error:  # connection refused, timeouts, DNS
                problem = f"{group}: {type(error).__name__}: {_one_line(error)}"
            if self.clock() + delay > deadline:
                raise ShipError(f"{problem} (gave up after {self.config.retry_seconds:g} s)")
            log.warning("%s; retrying in %.1f s", problem, delay)
            self.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 (jitter, not security)
            delay = min(delay * 2, 5.0)

    def _ensure_stream(self, group: str) -> None:
        from botocore.exceptions import ClientError

        if group in self.streams_ready:
            return
        try:
            self.client.create_log_stream(logGroupName=group, logStreamName=self.config.log_stream)
            log.info("%s: log stream %s created", group, self.config.log_stream)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise ShipError(
                    f"log group {group} does not exist; the Pulumi stack creates it (this shipper never does)"
                ) from error
            if code != "ResourceAlreadyExistsException":
                raise
        self.streams_ready.add(group)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def serve(
    stdin: IO[str],
    stdout: IO[str],
    writer: CloudWatchWriter,
    now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
) -> None:
    """rsyslog's omprog protocol with transactions and confirmations, until stdin closes."""

    def answer(text: str) -> None:
        stdout.write(text + "\n")
        stdout.flush()

    answer("OK")  # ready
    pending: list[Event] = []
    in_transaction = False
    routes = writer.config.routes
    while True:
        line = stdin.readline()
        if not line:  # rsyslog closed the pipe: whatever is pending was not confirmed, it stays queued
            return
        line = line.rstrip("\n")
        if line == BEGIN:
            pending, in_transaction = [], True
            answer("OK")
        elif line == COMMIT:
            answer(_commit(writer, pending))
            pending, in_transaction = [], False
        elif in_transaction:
            pending.append(to_event(line, routes, now_ms()))
            answer("DEFER_COMMIT")
        else:  # a message outside a transaction is its own batch
            answer(_commit(writer, [to_event(line, routes, now_ms())]))


def _commit(writer: CloudWatchWriter, events: list[Event]) -> str:
    started = writer.clock()
    try:
        writer.ship(events)
        return "OK"
    except ShipError as error:
        log.error("batch of %d events not stored, rsyslog will send it again: %s", len(events), error)
        answer = f"ERROR {error}"
    except Exception as error:  # anything unexpected: refuse the batch, never confirm it
        log.exception("batch of %d events not stored", len(events))
        answer = f"ERROR {type(error).__name__}: {_one_line(error)}"
    # rsyslog resumes an omprog action as soon as the program is alive, so a batch refused at once
    # (no such group, access denied) would come straight back: a failed commit takes at least this long.
    pause = writer.config.failure_pause_seconds - (writer.clock() - started)
    if pause > 0:
        writer.sleep(pause)
    return answer


def make_client(config: Config) -> Any:
    import boto3
    from botocore.config import Config as BotoConfig

    os.environ.update(config.environment)
    return boto3.session.Session().client(
        "logs",
        region_name=config.region,
        endpoint_url=config.endpoint_url,
        verify=config.ca_bundle or True,
        config=BotoConfig(
            # Retries are this program's own (bounded by retry_seconds, below rsyslog's confirmTimeout).
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=15,
            user_agent_extra="soc2kit-log-shipper",
        ),
    )


def main(
    argv: list[str] | None = None,
    stdin: IO[str] | None = None,
    stdout: IO[str] | None = None,
    client: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="JSON configuration written by the log_shipping role")
    args = parser.parse_args(argv)
    log_format = "%(asctime)s soc2kit-log-shipper %(levelname)s %(message)s"
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=log_format)
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    try:
        config = Config.load(args.config)
    except (OSError, ValueError) as error:
        stdout.write(f"ERROR configuration: {_one_line(error)}\n")
        stdout.flush()
        log.error("configuration: %s", error)
        return 1
    client = client if client is not None else make_client(config)
    writer = CloudWatchWriter(config, client, sleep=sleep, clock=clock)
    serve(stdin, stdout, writer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
