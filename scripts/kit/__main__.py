"""`python -m kit ACTION ENV [WEB]`: deploy, plan, destroy, rollback, verify, preflight (see the Makefile)."""

from __future__ import annotations

import argparse
import os
import sys

from . import LOCAL, REHEARSAL, KitError, aws, check_env, check_web, local, rehearsal
from .preflight import context, run_preflight
from .stages import Pipeline

ACTIONS = ("deploy", "plan", "destroy", "rollback", "verify", "preflight")


def build(action: str, env: str, web: str, environ: dict[str, str]) -> Pipeline:
    if env == LOCAL:
        if action == "deploy":
            return local.deploy(web)
        if action == "destroy":
            return local.destroy(web)
        if action == "rollback":
            return local.rollback(web, environ)
        if action == "verify":
            return local.verify_pipeline(web)
        raise KitError(
            f"`make {action}` has no meaning for ENV=local",
            "ENV=local supports deploy, destroy, rollback, verify",
        )
    if env == REHEARSAL:
        if action == "deploy":
            return rehearsal.deploy(web, environ)
        if action == "destroy":
            return rehearsal.destroy()
        if action == "rollback":
            return rehearsal.rollback(web, environ)
        if action == "verify":
            return rehearsal.verify_pipeline(web)
        raise KitError(
            f"`make {action}` has no meaning for ENV=rehearsal",
            "ENV=rehearsal supports deploy, destroy, rollback, verify",
        )
    if action == "deploy":
        return aws.deploy(env, web, environ)
    if action == "plan":
        return aws.plan(env)
    if action == "destroy":
        return aws.destroy(env, environ)
    if action == "rollback":
        return aws.rollback(env, web, environ)
    if action == "verify":
        return aws.verify_pipeline(env)
    pipeline = Pipeline(f"preflight ENV={env}")
    pipeline.add("preflight", lambda: run_preflight(context(env), action="deploy"))
    return pipeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kit", description=__doc__)
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("env", help="local, dev, staging or prod")
    parser.add_argument("web", nargs="?", default="nginx", help="nginx (default) or apache")
    args = parser.parse_args(argv)
    try:
        env = check_env(args.env)
        web = check_web(args.web)
        pipeline = build(args.action, env, web, dict(os.environ))
    except KitError as error:
        print(f"ERROR: {error.what}", file=sys.stderr)
        if error.fix:
            print(f"How to fix: {error.fix}", file=sys.stderr)
        return 2
    return pipeline.run()


if __name__ == "__main__":
    sys.exit(main())
