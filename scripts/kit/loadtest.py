"""`make loadtest ENV=local [WEB=apache]`: the locust scenario (loadtest/locustfile.py) against the running
local stack, twice with the same client on the same CPUs:

1. proxy:  HTTPS through the web server, https://127.0.0.1:<published port> with SNI/Host set to the site;
2. direct: plain HTTP on gunicorn's unix socket (reached through /proc/<pid>/root of the app container,
   as root on this machine), with the headers the proxy would add.

It prints requests/s, p50/p95/p99 and the error count of each, the ratio proxy/direct of throughput,
and keeps locust's HTML reports and CSV statistics in evidence/<ENV>/loadtest-<UTC timestamp>-<web>/.
Exit 1 when a run has errors or the ratio is below the target, 2 when it cannot start.

Settings (environment): LOADTEST_USERS (20), LOADTEST_SPAWN_RATE (10), LOADTEST_DURATION (60s),
LOADTEST_MIN_RATIO (0.8), LOADTEST_WAIT_SECONDS (0: closed loop), LOADTEST_PATHS (proxy,direct),
LOADTEST_SEARCHES_PER_MINUTE (4: the editors' searches, kept under the app's per-user search limit).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from . import LOCAL, ROOT, KitError, check_env, check_web
from .running_stack import SITE_NAME, RunningStack, connect

LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"
EVIDENCE_DIR = ROOT / "evidence"
PATHS = ("proxy", "direct")
_DURATION = re.compile(r"^\d+[smh]$")


@dataclass(frozen=True)
class Settings:
    users: int
    spawn_rate: float
    duration: str
    min_ratio: float
    wait_seconds: float
    paths: tuple[str, ...]
    searches_per_minute: float = 4


@dataclass(frozen=True)
class RunFigures:
    path: str
    requests: int
    failures: int
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    client_cpu_percent_mean: float | None = None
    # The machine's 1-minute load average just before the run: other work on the same cores skews a ratio.
    load_average_before: float | None = None
    # Locust's distinct failure messages, with how often each occurred ("... answered 429 (...)" x30).
    errors: tuple[str, ...] = ()


def settings_from(environ: dict[str, str]) -> Settings:
    """Reads the LOADTEST_* settings; a bad value raises KitError naming it and the accepted form."""

    def number(name: str, default: str, kind: type, low: float, high: float) -> float:
        raw = environ.get(name, default)
        try:
            value = kind(raw)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise KitError(
                f"{name}={raw!r} is not {'a whole number' if kind is int else 'a number'} "
                f"from {low:g} to {high:g}",
                f"e.g. {name}={default}",
            )
        return value

    duration = environ.get("LOADTEST_DURATION", "60s")
    if not _DURATION.match(duration):
        raise KitError(
            f"LOADTEST_DURATION={duration!r} is not a duration like 60s, 5m or 1h",
            "e.g. LOADTEST_DURATION=60s",
        )
    paths = tuple(p.strip() for p in environ.get("LOADTEST_PATHS", ",".join(PATHS)).split(",") if p.strip())
    unknown = [p for p in paths if p not in PATHS]
    if unknown or not paths:
        raise KitError(f"LOADTEST_PATHS={environ.get('LOADTEST_PATHS')!r}: use proxy, direct or proxy,direct")
    return Settings(
        users=int(number("LOADTEST_USERS", "20", int, 1, 500)),
        spawn_rate=number("LOADTEST_SPAWN_RATE", "10", float, 0.1, 500),
        duration=duration,
        min_ratio=number("LOADTEST_MIN_RATIO", "0.8", float, 0, 1),
        wait_seconds=number("LOADTEST_WAIT_SECONDS", "0", float, 0, 60),
        paths=paths,
        searches_per_minute=number("LOADTEST_SEARCHES_PER_MINUTE", "4", float, 0, 60),
    )


def read_figures(path: str, stats_csv: Path) -> RunFigures:
    """The Aggregated row of locust's <prefix>_stats.csv."""
    with stats_csv.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("Name") == "Aggregated":
                return RunFigures(
                    path=path,
                    requests=int(row["Request Count"]),
                    failures=int(row["Failure Count"]),
                    requests_per_second=float(row["Requests/s"]),
                    p50_ms=float(row["50%"]),
                    p95_ms=float(row["95%"]),
                    p99_ms=float(row["99%"]),
                )
    raise KitError(f"{stats_csv} has no Aggregated row", "see locust's output above")


def read_errors(failures_csv: Path) -> tuple[str, ...]:
    """The distinct failures in locust's <prefix>_failures.csv, most frequent first ("<error> (xN)")."""
    if not failures_csv.is_file():
        return ()
    with failures_csv.open(encoding="utf-8", newline="") as handle:
        rows = [(int(row["Occurrences"]), row["Name"], row["Error"]) for row in csv.DictReader(handle)]
    return tuple(f"{name}: {error} (x{count})" for count, name, error in sorted(rows, reverse=True))


def verdict(figures: dict[str, RunFigures], min_ratio: float) -> tuple[float | None, list[str]]:
    """The proxy/direct throughput ratio (None without both runs) and the reasons the run fails."""
    problems = [
        f"{f.path}: {f.failures} failed request(s)" + "".join(f"\n    {error}" for error in f.errors)
        for f in figures.values()
        if f.failures
    ]
    problems += [f"{f.path}: no request completed" for f in figures.values() if f.requests == 0]
    ratio = None
    if "proxy" in figures and "direct" in figures and figures["direct"].requests_per_second > 0:
        ratio = figures["proxy"].requests_per_second / figures["direct"].requests_per_second
        if ratio < min_ratio:
            problems.append(f"proxy keeps {ratio:.0%} of direct throughput, below the target {min_ratio:.0%}")
    return ratio, problems


def _run_locust(
    stack: RunningStack, path: str, settings: Settings, folder: Path, credentials: Path
) -> RunFigures:
    locust = shutil.which("locust")
    if locust is None:
        raise KitError("locust is not on PATH", "run `make setup` (.venv has locust) and use `make loadtest`")
    env = {
        **os.environ,
        "LOADTEST_TARGET": path,
        "LOADTEST_SITE_NAME": SITE_NAME,
        "LOADTEST_CREDENTIALS": str(credentials),
        "LOADTEST_WAIT_SECONDS": str(settings.wait_seconds),
        "LOADTEST_SEARCHES_PER_MINUTE": str(settings.searches_per_minute),
        "LOADTEST_CLIENT_USAGE": str(folder / f"{path}-client-usage.json"),
    }
    if path == "proxy":
        host = stack.https_url
        env["LOADTEST_CA_FILE"] = str(stack.ca_file)
    else:
        host = f"https://{SITE_NAME}"  # never resolved: the adapter connects to the unix socket
        env["LOADTEST_SOCKET"] = stack.gunicorn_socket()
    command = [
        locust,
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "--users",
        str(settings.users),
        "--spawn-rate",
        str(settings.spawn_rate),
        "--run-time",
        settings.duration,
        "--stop-timeout",
        "10",
        "--host",
        host,
        "--html",
        str(folder / f"{path}.html"),
        "--csv",
        str(folder / path),
        "--exit-code-on-error",
        "0",
    ]
    load_before = round(os.getloadavg()[0], 2)
    print(
        f"==> locust, {path} path: {settings.users} users for {settings.duration} -> {host}",
        file=sys.stderr,
        flush=True,
    )
    with (folder / f"{path}-locust.log").open("w", encoding="utf-8") as log:
        result = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)  # noqa: S603
    if result.returncode != 0:
        tail = (folder / f"{path}-locust.log").read_text(encoding="utf-8").splitlines()[-20:]
        raise KitError(
            f"locust ({path}) exited with {result.returncode}:\n" + "\n".join(tail), "see the log above"
        )
    figures = replace(
        read_figures(path, folder / f"{path}_stats.csv"),
        load_average_before=load_before,
        errors=read_errors(folder / f"{path}_failures.csv"),
    )
    usage_file = folder / f"{path}-client-usage.json"
    if usage_file.is_file():
        usage = json.loads(usage_file.read_text(encoding="utf-8"))
        figures = replace(
            figures,
            client_cpu_percent_mean=round(usage["cpu_percent_mean"], 1),
        )
    return figures


def _table(figures: dict[str, RunFigures], ratio: float | None, web: str) -> str:
    lines = [
        f"| path ({web}) | requests | req/s | p50 ms | p95 ms | p99 ms | errors | locust CPU % "
        "| load avg before |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in figures.values():
        label = f"proxy ({web}, TLS)" if f.path == "proxy" else "direct (gunicorn socket)"
        lines.append(
            f"| {label} | {f.requests} | {f.requests_per_second:.1f} | {f.p50_ms:.0f} | {f.p95_ms:.0f} | "
            f"{f.p99_ms:.0f} | {f.failures} | {f.client_cpu_percent_mean} | {f.load_average_before} |"
        )
    if ratio is not None:
        lines.append(f"\nproxy / direct throughput: {ratio:.1%}")
    return "\n".join(lines)


def run(env: str, web: str, environ: dict[str, str]) -> int:
    if env != LOCAL:
        raise KitError(
            f"make loadtest supports ENV=local only (got ENV={env})",
            "load tests send traffic to loopback and our own test containers only; bring the stack up "
            "with `make deploy ENV=local` and run `make loadtest ENV=local`",
        )
    settings = settings_from(environ)
    stack = connect(web)
    users = stack.ensure_api_users("loadtest")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = EVIDENCE_DIR / env / f"loadtest-{stamp}-{web}"
    folder.mkdir(parents=True, exist_ok=True)
    figures: dict[str, RunFigures] = {}
    with tempfile.TemporaryDirectory(prefix="soc2kit-loadtest-") as private:
        credentials = Path(private) / "credentials.json"
        credentials.touch(mode=0o600)
        credentials.write_text(json.dumps(users), encoding="utf-8")
        for path in settings.paths:
            figures[path] = _run_locust(stack, path, settings, folder, credentials)
    ratio, problems = verdict(figures, settings.min_ratio)
    table = _table(figures, ratio, web)
    summary = {
        "env": env,
        "web": web,
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": asdict(settings),
        "figures": {name: asdict(f) for name, f in figures.items()},
        "proxy_to_direct_ratio": ratio,
        "target": {"min_ratio": settings.min_ratio, "errors": 0},
        "passed": not problems,
        "problems": problems,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "method": "same locust client on this machine for both paths; direct = gunicorn's unix socket "
        "through /proc/<pid>/root of the app container; closed loop (no think time unless set)",
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (folder / "summary.md").write_text(f"# Load test, ENV={env} WEB={web}\n\n{table}\n", encoding="utf-8")
    print(f"\n{table}\n\nHTML reports and CSV statistics: {folder}", flush=True)
    if problems:
        print("LOAD TEST FAILED: " + "; ".join(problems), file=sys.stderr)
        return 1
    print(
        "load test passed: zero errors" + (f", proxy keeps {ratio:.0%} of direct throughput" if ratio else "")
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kit.loadtest", description=__doc__.split("\n\n")[0])
    parser.add_argument("env", help="local (the only ENV the load test runs against)")
    parser.add_argument("web", nargs="?", default="nginx", help="nginx (default) or apache")
    args = parser.parse_args(argv)
    try:
        return run(check_env(args.env), check_web(args.web), dict(os.environ))
    except KitError as error:
        return error.report()


if __name__ == "__main__":
    sys.exit(main())
