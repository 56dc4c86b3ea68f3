"""`python -m kit.verify ENV [WEB]` (`make verify ENV=... [WEB=...] [CHECKS=id,id]`): verify the deployed
controls and write the evidence folder. Exit 0: every control that applies passed; 1: a control failed
(or an exception expired); 3: none failed but some could not run; 2: verify could not start."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from .. import REHEARSAL, KitError, aws, check_env, check_web, local, rehearsal
from ..preflight import context, export_stack_profile
from . import thresholds as threshold_file
from .context import Context, Site
from .hosts import AnsibleHosts, PodmanHosts
from .registry import CHECKS, checks_for
from .runner import run_all, scratch_dir
from .secrets import Scrubber
from .sources import read_host_secrets


def published_port(scenario: local.Scenario, container: str, inner: int) -> int:
    """The loopback port a molecule platform publishes for the container's port `inner`."""
    for platform in scenario.platforms:
        if platform.get("name") != container:
            continue
        for mapping in platform.get("published_ports") or []:
            parts = str(mapping).split(":")
            if len(parts) == 3 and parts[2].split("/")[0] == str(inner):
                return int(parts[1])
    raise KitError(
        f"container {container} of scenario {scenario.name} publishes no port for {inner}",
        f"check published_ports in {scenario.directory}/molecule.yml",
    )


def local_context(web: str, scratch: Path) -> tuple[Context, dict[str, str]]:
    scenario = local.scenario_for(web)
    container = scenario.container("app_hosts")
    podman_env = local.molecule_env()
    if not local.container_running(container):
        raise KitError(
            f"the local stack is not running (container {container} of scenario {scenario.name})",
            f"run `make deploy ENV=local{' WEB=apache' if web == 'apache' else ''}` first",
        )
    site = Site(
        name=local.SITE_NAME,
        https_port=published_port(scenario, container, 443),
        http_port=published_port(scenario, container, 80),
        connect_address=local.LOOPBACK,
        ca_file=local.site_ca_file(scenario),
    )
    hosts = PodmanHosts([container], podman_env)
    environ = {**os.environ, **podman_env, **tool_paths()}
    ctx = Context(
        "local",
        web,
        site,
        hosts,
        threshold_file.load(),
        scratch,
        local_app_container=container,
        environ=environ,
    )
    return ctx, {"Scenario": f"molecule/{scenario.name}", "App container": container}


def aws_context(env: str, web: str, scratch: Path) -> tuple[Context, dict[str, str]]:
    limits = threshold_file.load()
    inventory = aws.record_outputs(env)
    names = list(inventory["app_hosts"]["hosts"])
    outputs = json.loads(aws.outputs_file(env).read_text(encoding="utf-8"))
    environ = {**os.environ, **aws.ansible_env(env), **tool_paths()}
    hosts = AnsibleHosts(aws.inventory_dir(env), names, aws.ansible_env(env))
    site = Site(name=aws.public_hostname(env))
    ctx = Context(
        env,
        web,
        site,
        hosts,
        limits,
        scratch,
        inventory=aws.inventory_dir(env),
        stack_outputs=outputs,
        environ=environ,
    )
    return ctx, {"Stack": f"pulumi stack {env}", "App hosts": ", ".join(names)}


def rehearsal_context(web: str, scratch: Path) -> tuple[Context, dict[str, str]]:
    """The AWS checks against the rehearsal: its recorded stack outputs (there is no `pulumi stack output`),
    the site through the balancer on 127.0.0.1, AWS calls to its moto server."""
    inventory = rehearsal.recorded_inventory()
    names = list(inventory["app_hosts"]["hosts"])
    outputs = json.loads(aws.outputs_file(REHEARSAL).read_text(encoding="utf-8"))
    # boto3 (aws_live) reads its endpoint and credentials from the process environment.
    os.environ.update(rehearsal.aws_env())
    environ = {**os.environ, **aws.ansible_env(REHEARSAL), **rehearsal.podman_env(), **tool_paths()}
    site = Site(
        name=aws.public_hostname(REHEARSAL),
        https_port=rehearsal.PORTS["https"],
        http_port=rehearsal.PORTS["http"],
        connect_address="127.0.0.1",
        ca_file=rehearsal.fetch_acme_root(),
    )
    ctx = Context(
        REHEARSAL,
        web,
        site,
        AnsibleHosts(aws.inventory_dir(REHEARSAL), names, aws.ansible_env(REHEARSAL)),
        threshold_file.load(),
        scratch,
        local_app_container=rehearsal.app_container(0),
        inventory=aws.inventory_dir(REHEARSAL),
        stack_outputs=outputs,
        environ=environ,
    )
    return ctx, {"Stack": "rehearsal (recorded outputs of the mocked program)", "App hosts": ", ".join(names)}


def tool_paths() -> dict[str, str]:
    """The venv's own interpreter and pip-audit (sslyze is a dependency of the dev lock)."""
    bin_dir = Path(sys.executable).parent
    pip_audit = bin_dir / "pip-audit"
    return {
        "KIT_PYTHON": sys.executable,
        "KIT_PIP_AUDIT": str(pip_audit if pip_audit.exists() else "pip-audit"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kit.verify", description=__doc__)
    parser.add_argument("env", help="local, dev, staging, prod or rehearsal")
    parser.add_argument(
        "web", nargs="?", default="", help="nginx or apache (default: ENV's recorded choice; nginx for local)"
    )
    parser.add_argument(
        "--checks",
        default=os.environ.get("CHECKS", ""),
        help=f"comma-separated subset of: {', '.join(c.check_id for c in CHECKS)}",
    )
    args = parser.parse_args(argv)
    try:
        env = check_env(args.env)
        web = check_web(args.web) if args.web else ""
        if env == "local":
            web = web or "nginx"
        elif env == REHEARSAL:
            web = rehearsal.deployed_web(web)
        else:
            # boto3 (aws_live) and Ansible use the stack's aws:profile, as Pulumi does.
            export_stack_profile(context(env), os.environ)
            web = aws.resolve_web(env, web)
        only = {item.strip() for item in args.checks.split(",") if item.strip()} or None
        checks = checks_for(env, only)
        for tool in ("testssl", "node", "npm"):
            if shutil.which(tool) is None:
                raise KitError(
                    f"`{tool}` is not installed (make verify runs testssl.sh and MDN HTTP Observatory)",
                    "run `make setup` (Debian packages testssl.sh and nodejs); npm comes with NodeSource's "
                    "nodejs, or `apt-get install npm` next to Debian's nodejs",
                )
        with scratch_dir() as scratch_name:
            scratch = Path(scratch_name)
            if env == "local":
                ctx, extra = local_context(web, scratch)
            elif env == REHEARSAL:
                ctx, extra = rehearsal_context(web, scratch)
            else:
                ctx, extra = aws_context(env, web, scratch)
            known = read_host_secrets(ctx.hosts)
            extra["Secrets known and scrubbed (names)"] = ", ".join(sorted(known)) or (
                "none: no secrets file and no secret ARNs on the hosts (app not deployed?)"
            )
            if not known:
                print(
                    "note: the hosts hold no app secrets yet (no secrets.env, no secret ARNs)",
                    file=sys.stderr,
                )
            code, _ = run_all(ctx, checks, Scrubber(known), extra=extra, only=only)
            return code
    except KitError as error:
        return error.report()


if __name__ == "__main__":
    sys.exit(main())
