"""Where `make evidence` reads the period from: the local collector container (ENV=local) or the AWS
stack (CloudWatch Logs, Secrets Manager for the scrubber, KMS for the signature), by the stack outputs
that `make deploy` / `make verify` recorded."""

from __future__ import annotations

import json
from typing import Any

from .. import KitError, aws, local
from ..verify.hosts import PodmanHosts
from ..verify.sources import read_host_secrets
from . import daily
from .daily import DailyResult
from .period import Period


def local_sources(web: str, period: Period) -> tuple[list[DailyResult], dict[str, str], dict[str, str]]:
    """(daily results of the period, known secrets for the scrubber, what was read from where)."""
    scenario = local.scenario_for(web)
    podman_env = local.molecule_env()
    collector = scenario.find("log_collectors")
    app = scenario.container("app_hosts")
    if collector is None or not local.container_running(collector):
        raise KitError(
            f"the local log collector is not running (scenario {scenario.name})",
            f"run `make deploy ENV=local{' WEB=apache' if web == 'apache' else ''}` first",
        )
    done = PodmanHosts([collector], podman_env).run(collector, " ".join(daily.collector_command()))
    if done.returncode not in (0, 1):  # grep: 1 = no line matched
        raise KitError(
            f"reading the collector's files failed (exit {done.returncode}): {done.output.strip()[-300:]}",
            f"check `podman exec {collector} ls -R {daily.COLLECTOR_GLOB}`",
        )
    results = daily.in_period(daily.parse_lines(done.stdout.splitlines()), period.start, period.end)
    known = read_host_secrets(PodmanHosts([app], podman_env)) if local.container_running(app) else {}
    where = {
        "Daily results": f"collector container {collector}: {daily.COLLECTOR_GLOB}/<host>/<program>.log",
        "Secrets known and scrubbed (names)": ", ".join(sorted(known)) or "none (app container not running)",
    }
    return results, known, where


def stack_outputs(env: str) -> dict[str, Any]:
    path = aws.outputs_file(env)
    if not path.is_file():
        raise KitError(
            f"no recorded stack outputs for ENV={env} ({path})",
            f"run `make verify ENV={env}` (or make deploy) first: it records them",
        )
    return dict(json.loads(path.read_text(encoding="utf-8")))


def aws_known_secrets(outputs: dict[str, Any], secretsmanager: Any) -> dict[str, str]:
    """The stack's secret values (in memory only), so that none can reach the bundle."""
    arns = dict(outputs.get("secret_arns") or {})
    if outputs.get("db_admin_secret_arn"):
        arns["db_admin"] = outputs["db_admin_secret_arn"]
    known = {}
    for name, arn in arns.items():
        try:
            known[name] = str(secretsmanager.get_secret_value(SecretId=arn)["SecretString"])
        except Exception as error:
            raise KitError(
                f"cannot read secret {name} ({arn}) to scrub it from the bundle: {error}",
                "run with credentials allowed secretsmanager:GetSecretValue on the stack's secrets",
            ) from error
    return known


def aws_sources(
    env: str, period: Period, session: Any
) -> tuple[list[DailyResult], dict[str, str], dict[str, str], dict[str, Any]]:
    outputs = stack_outputs(env)
    groups = sorted((outputs.get("log_group_names") or {}).values())
    if not groups:
        raise KitError(f"the stack outputs of ENV={env} name no log groups", "record the outputs again")
    region = str(outputs.get("region") or "") or None
    results = daily.read_cloudwatch(
        session.client("logs", region_name=region), groups, period.start, period.end
    )
    known = aws_known_secrets(outputs, session.client("secretsmanager", region_name=region))
    where = {
        "Daily results": f"CloudWatch Logs groups {', '.join(groups)} ({region})",
        "Secrets known and scrubbed (names)": ", ".join(sorted(known)) or "none",
    }
    return results, known, where, outputs
