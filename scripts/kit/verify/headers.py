"""HTTP security headers: MDN HTTP Observatory's own scanner (npm @mdn/mdn-http-observatory), graded.

The scanner only scans a host name on ports 80/443. For ENV=local and the rehearsal the site is published
on loopback ports (8443, 18443), so the scan runs inside an app container's network namespace (where the web
server listens on 127.0.0.1:80/443) with the site's name mapped to 127.0.0.1 in a private mount namespace:
the traffic stays on the container's loopback, and nothing on the machine is changed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from .. import ROOT
from .context import Context
from .hosts import run_local
from .result import ERROR, FAIL, PASS, Attachment, CheckError, Outcome
from .thresholds import GRADES

OBSERVATORY_VERSION = "1.4.8"
OBSERVATORY_DIR = ROOT / ".cache" / "observatory"
PACKAGE_DIR = OBSERVATORY_DIR / "node_modules" / "@mdn" / "mdn-http-observatory"


def grade_at_least(grade: str, minimum: str) -> bool:
    return grade in GRADES and GRADES.index(grade) <= GRADES.index(minimum)


def evaluate_observatory(json_text: str, min_grade: str, min_score: int) -> Outcome:
    try:
        data = json.loads(json_text)
        scan = data["scan"]
    except (ValueError, KeyError, TypeError):
        return Outcome(ERROR, "the Observatory scanner printed no scan result; see its output")
    if scan.get("error"):
        return Outcome(ERROR, f"the Observatory scan failed: {scan['error']}")
    grade, score = str(scan.get("grade")), int(scan.get("score") or 0)
    failed_tests = sorted(name for name, test in (data.get("tests") or {}).items() if not test.get("pass"))
    figures: dict[str, Any] = {
        "grade": grade,
        "score": score,
        "tests_passed": scan.get("testsPassed"),
        "tests_quantity": scan.get("testsQuantity"),
        "failed_tests": {name: data["tests"][name].get("result") for name in failed_tests},
        "minimum": f"{min_grade} / {min_score}",
    }
    summary = (
        f"grade {grade}, score {score} ({scan.get('testsPassed')}/{scan.get('testsQuantity')} tests passed)"
    )
    if grade_at_least(grade, min_grade) and score >= min_score and not failed_tests:
        return Outcome(PASS, summary, figures)
    reasons = [f"{name}: {figures['failed_tests'][name]}" for name in failed_tests]
    return Outcome(
        FAIL,
        summary
        + f"; needs {min_grade} and {min_score}"
        + (f"; failed {', '.join(reasons)}" if reasons else ""),
        figures,
    )


def ensure_scanner(environ: dict[str, str]) -> Path:
    """Installs the pinned scanner into .cache/observatory once (its install scripts download lists from
    outside, so they are skipped and the HSTS preload list is left empty: preload is not scored)."""
    scan_js = PACKAGE_DIR / "src" / "scan.js"
    if scan_js.is_file():
        return scan_js
    if shutil.which("npm") is None or shutil.which("node") is None:
        raise CheckError(
            "node and npm are needed for MDN HTTP Observatory: `make setup` installs nodejs; npm comes with "
            "NodeSource's nodejs, or from Debian's npm package (apt-get install npm) next to Debian's nodejs"
        )
    OBSERVATORY_DIR.mkdir(parents=True, exist_ok=True)
    done = run_local(
        [
            "npm",
            "install",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(OBSERVATORY_DIR),
            f"@mdn/mdn-http-observatory@{OBSERVATORY_VERSION}",
        ],
        timeout=300,
    )
    if done.returncode != 0 or not scan_js.is_file():
        raise CheckError(f"npm install of @mdn/mdn-http-observatory failed: {done.output.strip()[-400:]}")
    (PACKAGE_DIR / "conf" / "hsts-preload.json").write_text("{}\n", encoding="utf-8")
    return scan_js


def container_pid(container: str, environ: dict[str, str]) -> str:
    done = run_local(["podman", "inspect", "--format", "{{.State.Pid}}", container], env=environ)
    pid = done.stdout.strip()
    if done.returncode != 0 or not pid.isdigit() or pid == "0":
        raise CheckError(f"container {container} is not running: {done.output.strip()}")
    return pid


def scan_command(ctx: Context, scan_js: Path) -> list[str]:
    node = shutil.which("node") or "node"
    if ctx.local_app_container is None:
        if ctx.is_local:
            raise CheckError("no app container known for ENV=local")
        return [node, str(scan_js), ctx.site.name]
    if os.geteuid() != 0:
        raise CheckError("the local Observatory scan enters the container's network namespace: run as root")
    hosts_file = ctx.scratch / "observatory-hosts"
    hosts_file.write_text(f"127.0.0.1 localhost\n127.0.0.1 {ctx.site.name}\n", encoding="utf-8")
    pid = container_pid(ctx.local_app_container, ctx.environ)
    inner = 'mount --bind "$1" /etc/hosts && exec "$2" "$3" "$4"'
    return [
        "nsenter",
        "-t",
        pid,
        "-n",
        "unshare",
        "-m",
        "sh",
        "-c",
        inner,
        "scan",
        str(hosts_file),
        node,
        str(scan_js),
        ctx.site.name,
    ]


def observatory(ctx: Context) -> tuple[Outcome, list[Attachment]]:
    scan_js = ensure_scanner(ctx.environ)
    env = {"NODE_EXTRA_CA_CERTS": str(ctx.site.ca_file)} if ctx.site.ca_file else {}
    done = run_local(scan_command(ctx, scan_js), env=env, timeout=120)
    th = ctx.thresholds
    outcome = evaluate_observatory(done.stdout, th.observatory_min_grade, th.observatory_min_score)
    if outcome.status == ERROR and done.stderr.strip():
        outcome.summary += f" ({done.stderr.strip().splitlines()[-1][:200]})"
    return outcome, [Attachment("observatory.json", done.output)]
