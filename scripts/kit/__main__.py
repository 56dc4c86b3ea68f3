"""`python -m kit ACTION ENV [WEB]`: deploy, plan, destroy, rollback, verify, preflight, ami (Makefile).

WEB is empty when `make` was given no WEB=: ENV=local then uses nginx, the AWS environments the web
server recorded in their inventory (a WEB= that disagrees with it is refused)."""

from __future__ import annotations

import argparse
import os
import sys

from . import LOCAL, REHEARSAL, KitError, ami, aws, check_env, check_web, local, rehearsal
from .preflight import context, export_stack_profile, run_preflight
from .stages import Pipeline

ACTIONS = ("deploy", "plan", "destroy", "rollback", "verify", "preflight", "ami")


def print_ami(env: str) -> None:
    ami.find_ami(context(env))


def build(action: str, env: str, web: str, environ: dict[str, str]) -> Pipeline:
    if env == LOCAL:
        web = web or "nginx"
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
            return rehearsal.deploy(web or "nginx", environ)
        if action == "destroy":
            return rehearsal.destroy()
        if action in ("rollback", "verify"):
            # The web server the rehearsal runs (recorded by its deploy); a WEB= that disagrees is refused.
            web = rehearsal.deployed_web(web)
        if action == "rollback":
            return rehearsal.rollback(web, environ)
        if action == "verify":
            return rehearsal.verify_pipeline(web)
        raise KitError(
            f"`make {action}` has no meaning for ENV=rehearsal",
            "ENV=rehearsal supports deploy, destroy, rollback, verify",
        )
    if action == "plan":
        return aws.plan(env)
    if action == "destroy":
        return aws.destroy(env, environ)
    if action == "ami":
        pipeline = Pipeline(f"make ami ENV={env}")
        pipeline.add("newest Debian 12 AMI", lambda: print_ami(env))
        return pipeline
    if action in ("deploy", "rollback", "verify"):
        web = aws.resolve_web(env, web)
    if action == "deploy":
        return aws.deploy(env, web, environ)
    if action == "rollback":
        return aws.rollback(env, environ)
    if action == "verify":
        return aws.verify_pipeline(env)
    pipeline = Pipeline(f"preflight ENV={env}")
    pipeline.add("preflight", lambda: run_preflight(context(env), action="deploy"))
    return pipeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kit", description=__doc__)
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("env", help="local, dev, staging or prod")
    parser.add_argument(
        "web", nargs="?", default="", help="nginx or apache (default: ENV's recorded choice; nginx for local)"
    )
    args = parser.parse_args(argv)
    try:
        env = check_env(args.env)
        web = check_web(args.web) if args.web else ""
        if env not in (LOCAL, REHEARSAL):
            # boto3 here and every child (Ansible, SSM plugin) use the stack's aws:profile, as Pulumi does.
            export_stack_profile(context(env), os.environ)
        pipeline = build(args.action, env, web, dict(os.environ))
    except KitError as error:
        return error.report()
    return pipeline.run()


if __name__ == "__main__":
    sys.exit(main())
