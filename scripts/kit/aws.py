"""ENV=dev|staging|prod: Pulumi provisions, the inventory comes from the stack outputs, Ansible configures,
testinfra and an HTTPS smoke test verify."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import ANSIBLE_DIR, PULUMI_DIR, REHEARSAL, ROOT, WEB_SERVERS, KitError
from . import inventory as pulumi_inventory
from .livecheck import live_check
from .preflight import context, profile_env, run_preflight, site_settings
from .smoke import smoke_test
from .stages import Pipeline, run

# Recorded outputs of the last `pulumi stack output` of a run (names and ARNs only, never secrets).
STATE_DIR = ROOT / ".cache" / "deploy"
DEFAULT_BATCHES: list[int | str] = [1, "50%"]
# `pulumi up` and `pulumi preview` run the SOC2 policy pack: a mandatory violation stops them.
POLICY_PACK_DIR = PULUMI_DIR / "policy"
# Single host with HTTP-01: how long the deploy waits for the site's name to resolve to the host's EIP.
DNS_WAIT_SECONDS = 900
DNS_POLL_SECONDS = 15


def inventory_dir(env: str) -> Path:
    return ANSIBLE_DIR / "inventories" / env


def outputs_file(env: str) -> Path:
    return STATE_DIR / env / "stack-outputs.json"


def ansible_env(env: str) -> dict[str, str]:
    """Environment of every Ansible run: the kit's ansible.cfg, the outputs recorded for this ENV, and the
    stack's AWS profile (its secrets lookups and the SSM connection use the account Pulumi deployed to);
    for the rehearsal, its podman connection and moto endpoint instead of a profile."""
    if env == REHEARSAL:
        from . import rehearsal

        extra = rehearsal.ansible_env_extras()
    else:
        extra = profile_env(context(env))
    return {
        **extra,
        "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
        # Ansible only warns about an inventory it cannot parse and goes on with no hosts; fail instead.
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true",
        "ANSIBLE_INVENTORY_ENABLED": "script,yaml",
        "KIT_PULUMI_STACK": env,
        "KIT_PULUMI_OUTPUTS_FILE": str(outputs_file(env)),
    }


def record_outputs(env: str) -> dict[str, Any]:
    """Reads the stack outputs once (secrets hidden), checks them, keeps them for the later stages."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise KitError("the pulumi CLI is not on PATH", "install it: https://www.pulumi.com/docs/install/")
    result = subprocess.run(  # noqa: S603
        [pulumi, "stack", "output", "--json", "--show-secrets=false", "--stack", env],
        cwd=PULUMI_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise KitError(
            f"`pulumi stack output --stack {env}` failed: {result.stderr.strip()}",
            f"check that stack {env} exists (`pulumi stack ls` in pulumi/) and was deployed",
        )
    try:
        outputs = json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise KitError(
            f"`pulumi stack output --json` printed invalid JSON: {error}", "upgrade the Pulumi CLI"
        ) from error
    return store_outputs(env, outputs, os.environ.get("KIT_CONNECTION") or None)


def store_outputs(env: str, outputs: Any, connection: str | None) -> dict[str, Any]:
    """Checks the outputs by building the inventory from them, and keeps them for the later stages."""
    try:
        built = pulumi_inventory.build_inventory(outputs, env, connection)
    except pulumi_inventory.InventoryError as error:
        raise KitError(
            str(error), "fix the exported outputs in pulumi/__main__.py and run `make deploy` again"
        ) from error
    path = outputs_file(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(outputs, handle, indent=2, sort_keys=True)
    return built


def show_inventory(env: str, inventory: dict[str, Any] | None = None) -> None:
    """Prints the hosts of the inventory (from the stack's outputs, read now unless given)."""
    inventory = inventory if inventory is not None else record_outputs(env)
    hosts = inventory["app_hosts"]["hosts"]
    connection = inventory["app_hosts"]["vars"]["soc2kit_connection"]
    print(f"inventory: {len(hosts)} app host(s) via {connection}: {', '.join(hosts)}", file=sys.stderr)
    # Ansible reads it too (inventory script + this ENV's group_vars), so a YAML mistake shows here.
    run(
        ["ansible-inventory", "-i", str(inventory_dir(env)), "--graph"],
        what="ansible-inventory",
        fix=f"check ansible/inventories/{env}/group_vars/",
        env=ansible_env(env),
    )


def resolve_web(env: str, given: str) -> str:
    """The web server recorded for ENV in its site.yml; WEB= on the command line must agree with it, so a
    re-deploy never switches an Apache environment to nginx (or back) by leaving WEB= out."""
    settings = context(env)
    recorded = site_settings(settings).get("web_server")
    shown = settings.site_file.relative_to(settings.ansible_dir.parent)
    if recorded not in WEB_SERVERS:
        raise KitError(
            f"{shown} records no web server for {env} (web_server: {recorded!r})",
            f"set `web_server: nginx` or `web_server: apache` in {shown}",
        )
    if given and given != recorded:
        raise KitError(
            f"WEB={given} disagrees with the web server recorded for {env}: {recorded} "
            f"(web_server in {shown})",
            f"leave WEB= out to deploy {recorded}; to switch {env} to {given} on purpose, change web_server "
            f"in {shown} and deploy again",
        )
    return str(recorded)


def playbook_command(env: str, playbook: str, environ: dict[str, str]) -> list[str]:
    # The web server is the inventory's web_server (site.yml), never an override: see resolve_web.
    extra_vars: dict[str, Any] = {"deploy_serial": rolling_batches(environ)}
    if playbook == "rollback.yml" and environ.get("RELEASE"):
        extra_vars["django_app_rollback_to"] = environ["RELEASE"]
    return [
        "ansible-playbook",
        "-i",
        str(inventory_dir(env)),
        str(ANSIBLE_DIR / playbook),
        "-e",
        json.dumps(extra_vars),
    ]


def rolling_batches(environ: dict[str, str]) -> list[int | str]:
    """Batch sizes for site.yml's `serial`: one host first, so a bad release stops there, then half the rest.

    DEPLOY_SERIAL overrides it with a comma-separated list, e.g. DEPLOY_SERIAL=1,2,100% .
    """
    raw = environ.get("DEPLOY_SERIAL", "").strip()
    if not raw:
        return list(DEFAULT_BATCHES)
    batches: list[int | str] = []
    for item in raw.split(","):
        item = item.strip()
        if item.isdigit() and int(item) > 0:
            batches.append(int(item))
        elif item.endswith("%") and item[:-1].isdigit() and 0 < int(item[:-1]) <= 100:
            batches.append(item)
        else:
            raise KitError(
                f"DEPLOY_SERIAL={raw!r}: {item!r} is neither a host count nor a percentage",
                "use a comma-separated list of counts or percentages, e.g. DEPLOY_SERIAL=1,50%",
            )
    return batches


def public_hostname(env: str) -> str:
    """The first of soc2kit_public_hostnames, as Ansible sees it for this ENV."""
    result = subprocess.run(  # noqa: S603
        [shutil.which("ansible-inventory") or "ansible-inventory", "-i", str(inventory_dir(env)), "--list"],
        env={**os.environ, **ansible_env(env)},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise KitError(
            f"ansible-inventory failed: {result.stderr.strip()}", f"check ansible/inventories/{env}/"
        )
    hostvars = json.loads(result.stdout)["_meta"]["hostvars"]
    first_host: dict[str, Any] = next(iter(hostvars.values()), {})
    names = first_host.get("soc2kit_public_hostnames") or []
    if not names:
        raise KitError(
            "soc2kit_public_hostnames is empty",
            f"set it in ansible/inventories/{env}/group_vars/app_hosts/site.yml",
        )
    return str(names[0])


def verify(env: str, smoke: Callable[[], None] | None = None) -> None:
    """The live checks against the ENV's inventory, then the HTTPS smoke test (`smoke` replaces it)."""
    check = live_check(inventory=inventory_dir(env))
    run(
        check.command,
        what="testinfra verification of the deployed hosts",
        fix="read the failed controls above; re-run `make deploy` after fixing the role, or `make rollback`",
        env={**ansible_env(env), **check.env},
    )
    if smoke is not None:
        smoke()
        return
    smoke_test(public_hostname(env), 443)


def pulumi_up_command(env: str, environ: dict[str, str]) -> list[str]:
    auto_approve = ["--yes"] if environ.get("AUTO_APPROVE") == "1" else []
    return ["pulumi", "up", "--stack", env, "--policy-pack", str(POLICY_PACK_DIR), *auto_approve]


def pulumi_preview_command(env: str) -> list[str]:
    return ["pulumi", "preview", "--stack", env, "--diff", "--policy-pack", str(POLICY_PACK_DIR)]


def recorded_inventory(env: str) -> dict[str, Any]:
    """The inventory of the outputs this run recorded (show_inventory wrote them)."""
    outputs = json.loads(outputs_file(env).read_text(encoding="utf-8"))
    return dict(pulumi_inventory.build_inventory(outputs, env))


def resolve_ipv4(name: str) -> set[str]:
    """The IPv4 addresses `name` resolves to now (none while it does not resolve)."""
    try:
        return {
            str(info[4][0]) for info in socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
        }
    except (socket.gaierror, UnicodeError):
        return set()


def wait_for_dns(
    env: str,
    inventory: dict[str, Any],
    *,
    resolve: Callable[[str], set[str]] = resolve_ipv4,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    timeout: float = DNS_WAIT_SECONDS,
    poll: float = DNS_POLL_SECONDS,
    out: Any = None,
) -> None:
    """One host answers Let's Encrypt's HTTP-01 challenge itself, at the site's name: on the first deploy
    that name cannot point at the Elastic IP `pulumi up` has only just created. Waits (bounded) until it
    does; several hosts use DNS-01 and need no wait."""
    out = out or sys.stderr
    group = inventory["app_hosts"]
    if int(group["vars"]["soc2kit_host_count"]) != 1:
        return
    host = inventory["_meta"]["hostvars"][group["hosts"][0]]
    address = host.get("soc2kit_public_ip")
    names = site_settings(context(env)).get("soc2kit_public_hostnames") or []
    if not address or not names:
        raise KitError(
            "cannot wait for DNS: the single host has no public IP (app_host_public_ips) or "
            "soc2kit_public_hostnames is empty",
            f"check the stack outputs and ansible/inventories/{env}/group_vars/app_hosts/site.yml",
        )
    name = str(names[0])
    deadline = clock() + timeout
    seen = resolve(name)
    if address in seen:
        return
    print(
        f"DNS: waiting up to {timeout / 60:.0f} min for {name} to resolve to {address}, the host's "
        "Elastic IP (certbot's HTTP-01 challenge reaches the host by that name). "
        "Create or update its A record now.",
        file=out,
        flush=True,
    )
    while clock() < deadline:
        sleep(poll)
        seen = resolve(name)
        if address in seen:
            print(f"DNS: {name} resolves to {address}", file=out, flush=True)
            return
        print(f"DNS: {name} resolves to {', '.join(sorted(seen)) or 'nothing'} so far", file=out, flush=True)
    raise KitError(
        f"{name} did not resolve to {address} (the host's Elastic IP) within {timeout / 60:.0f} min "
        f"(it resolves to {', '.join(sorted(seen)) or 'nothing'})",
        f"point an A record for {name} at {address} in your DNS, wait for it to propagate (a resolver may "
        f"cache the old answer for its TTL), and run `make deploy ENV={env}` again: pulumi up will have "
        "nothing to change",
    )


def deploy(env: str, web: str, environ: dict[str, str]) -> Pipeline:
    rolling_batches(environ)  # a bad DEPLOY_SERIAL fails here, before anything runs
    pipeline = Pipeline(f"make deploy ENV={env} WEB={web}")
    pipeline.add("preflight", lambda: run_preflight(context(env), action="deploy"))
    up = pulumi_up_command(env, environ)
    pipeline.add(
        "pulumi up",
        lambda: run(
            up,
            what="pulumi up",
            fix="read Pulumi's error above; `make plan ENV=...` previews again",
            cwd=PULUMI_DIR,
        ),
    )
    pipeline.add("inventory from stack outputs", lambda: show_inventory(env))
    pipeline.add("DNS of the site (one host, HTTP-01)", lambda: wait_for_dns(env, recorded_inventory(env)))
    pipeline.add(
        "ansible-playbook site.yml (rolling)",
        lambda: run(
            playbook_command(env, "site.yml", environ),
            what="ansible-playbook site.yml",
            fix="the failed task is named above; hosts of later batches were not touched. "
            f"Fix and re-run, or `make rollback ENV={env}`",
            env=ansible_env(env),
        ),
    )
    pipeline.add("verify (testinfra + HTTPS smoke test)", lambda: verify(env))
    return pipeline


def plan(env: str) -> Pipeline:
    pipeline = Pipeline(f"make plan ENV={env}")
    pipeline.add("preflight", lambda: run_preflight(context(env), action="plan"))
    pipeline.add(
        "pulumi preview",
        lambda: run(
            pulumi_preview_command(env),
            what="pulumi preview",
            fix="read Pulumi's error above",
            cwd=PULUMI_DIR,
        ),
    )
    return pipeline


def check_destroy_confirmed(env: str, environ: dict[str, str]) -> None:
    if env == "prod" and environ.get("CONFIRM_DESTROY") != "prod":
        raise KitError(
            "refusing to destroy prod without explicit confirmation; nothing was changed",
            "run `make destroy ENV=prod CONFIRM_DESTROY=prod` if you really mean it; switch off the "
            "database's deletion protection by hand first (aws rds modify-db-instance "
            "--no-deletion-protection), or RDS refuses. A final snapshot is kept.",
        )


def destroy(env: str, environ: dict[str, str]) -> Pipeline:
    pipeline = Pipeline(f"make destroy ENV={env}")
    pipeline.add("confirmation", lambda: check_destroy_confirmed(env, environ))
    pipeline.add("preflight", lambda: run_preflight(context(env), action="destroy"))
    down = ["pulumi", "destroy", "--stack", env] + (["--yes"] if environ.get("AUTO_APPROVE") == "1" else [])
    pipeline.add(
        "pulumi destroy",
        lambda: run(down, what="pulumi destroy", fix="read Pulumi's error above", cwd=PULUMI_DIR),
    )
    return pipeline


def rollback(env: str, environ: dict[str, str]) -> Pipeline:
    pipeline = Pipeline(f"make rollback ENV={env}")
    pipeline.add("preflight", lambda: run_preflight(context(env), action="rollback"))
    pipeline.add("inventory from stack outputs", lambda: show_inventory(env))
    pipeline.add(
        "ansible-playbook rollback.yml",
        lambda: run(
            playbook_command(env, "rollback.yml", environ),
            what="ansible-playbook rollback.yml",
            fix="RELEASE=<name> picks a release under releases/; see the task error above",
            env=ansible_env(env),
        ),
    )
    return pipeline


def verify_pipeline(env: str) -> Pipeline:
    pipeline = Pipeline(f"verify ENV={env}")
    pipeline.add("preflight", lambda: run_preflight(context(env), action="verify"))
    pipeline.add("inventory from stack outputs", lambda: show_inventory(env))
    pipeline.add("verify (testinfra + HTTPS smoke test)", lambda: verify(env))
    return pipeline
