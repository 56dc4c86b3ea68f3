"""`python -m kit.evidence build ENV SINCE [UNTIL]` (make evidence) and `python -m kit.evidence verify
BUNDLE` (make evidence-verify). Exit 0 on success; 1 when a bundle fails verification; 2 on bad input
or when the bundle could not be made."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from .. import ROOT, KitError, check_env, check_web
from ..verify.provenance import banner, collect
from ..verify.secrets import Scrubber
from . import bundle, history
from .period import Period
from .signing import LOCAL_KEY_FILE, STACK_OUTPUT, KmsSigner, LocalSigner

EVIDENCE_DIR = ROOT / "evidence"


def parse_day(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise KitError(
            f"{name}={value!r} is not a date", f"write {name}=YYYY-MM-DD, e.g. {name}=2026-01-31"
        ) from None


def period_of(since: str, until: str, today: date) -> Period:
    if not since:
        raise KitError("SINCE is missing", "make evidence ENV=local SINCE=YYYY-MM-DD [UNTIL=YYYY-MM-DD]")
    first = parse_day("SINCE", since)
    last = parse_day("UNTIL", until) if until else today
    if last < first:
        raise KitError(
            f"UNTIL={last} is before SINCE={first}", "UNTIL is the last day of the period (inclusive)"
        )
    if last > today:
        raise KitError(
            f"UNTIL={last} is in the future (today is {today})", "leave UNTIL out to end the period today"
        )
    return Period(first, last)


def build(env: str, web: str, since: str, until: str) -> Path:
    env, web = check_env(env), check_web(web)
    now = datetime.now(UTC)
    period = period_of(since, until, now.date())
    if env == "local":
        from .sources import local_sources

        results, known, where = local_sources(web, period)
        signer: bundle.Signer = LocalSigner()
        session = None
    else:
        import boto3

        from .sources import aws_sources

        session = boto3.session.Session()
        results, known, where, outputs = aws_sources(env, period, session)
        signer = KmsSigner(
            session.client("kms", region_name=outputs.get("region") or None),
            str(outputs.get(STACK_OUTPUT) or ""),
        )
    gathered = bundle.Gathered(
        env=env,
        period=period,
        daily=results,
        verify_reports=bundle.verify_reports_in(EVIDENCE_DIR / env, period),
        commits=history.commits(period),
        converges=history.converges(period),
        provenance=collect(env, session),
        started=now,
        sources=where,
    )
    return bundle.assemble(gathered, EVIDENCE_DIR, Scrubber(known), signer, now)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kit.evidence", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("build", help="assemble and sign the bundle of a period")
    make.add_argument("env")
    make.add_argument("since", nargs="?", default="")
    make.add_argument("until", nargs="?", default="")
    make.add_argument("--web", default=os.environ.get("WEB", "nginx"))
    check = commands.add_parser("verify", help="check a bundle's files and signature")
    check.add_argument("bundle", nargs="?", default="")
    check.add_argument(
        "--public-key", default="", help="the signer's public key, received apart from the bundle"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            if banner(args.env):
                print(f"==> {banner(args.env)}", file=sys.stderr)
            folder = build(args.env, args.web, args.since, args.until)
            shown = folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder
            print(
                f"Evidence bundle: {shown}/README.md (timeline.html, assessment-results.json)",
                file=sys.stderr,
            )
            print(f"Check it: make evidence-verify BUNDLE={shown}", file=sys.stderr)
            return 0
        if not args.bundle:
            raise KitError("BUNDLE is missing", "make evidence-verify BUNDLE=evidence/<ENV>/bundle-...")
        folder = Path(args.bundle)
        expected = Path(args.public_key) if args.public_key else None
        if not folder.is_dir():
            raise KitError(f"BUNDLE={args.bundle} is not a folder", "name a folder that make evidence wrote")
        try:
            signer = bundle.verify_bundle(folder, expected_public_key=expected)
        except KitError as error:
            return error.report(status=1, label="EVIDENCE BUNDLE REJECTED")
        files = len(bundle.file_hashes(folder))
        print(f"Evidence bundle OK: {files} files match the manifest signed by {signer}", file=sys.stderr)
        if LOCAL_KEY_FILE.exists() and expected is None and "Ed25519" in signer:
            print(
                f"(this machine's key: {LOCAL_KEY_FILE}; pass --public-key to pin the signer)",
                file=sys.stderr,
            )
        return 0
    except KitError as error:
        return error.report()


if __name__ == "__main__":
    sys.exit(main())
