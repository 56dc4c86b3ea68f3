"""ENV=rehearsal: the AWS flow of `make deploy ENV=prod` (scripts/kit/aws.py), with only the cloud replaced.

`pulumi up` becomes: the local stand-ins (ansible/rehearsal-cloud.yml: moto, a TLS-only PostgreSQL, HAProxy,
pebble, two app containers), the Pulumi program's outputs for a `rehearsal` stack under mocks
(rehearsal_stack.py) with the containers' addresses, and moto seeded with what the program writes into
Secrets Manager, KMS and CloudWatch Logs. From there on it is prod's code: the inventory from
scripts/kit/inventory.py, site.yml with the AWS group_vars, the live checks, the smoke test.
scripts/kit/README.md lists every difference from prod in one table.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import ANSIBLE_DIR, MOLECULE_DIR, ROOT, KitError, local, rehearsal_stack
from .stages import Pipeline, log_path, run

ENV = "rehearsal"
STATE_DIR = ROOT / ".cache" / "rehearsal"
IMAGE = "localhost/soc2kit-debian12:latest"
NETWORK = "rh-net"
# Own /24 and loopback ports: never those of the molecule scenarios (10.213.10-11.x, 8443/9443/8080).
SUBNET_PREFIX = "10.213.77"
PORTS = {"https": 18443, "http": 18080, "moto": 15055}
APP_HOST_COUNT = 2
INTERNAL_DOMAIN = "rehearsal.test"
SITE_DOMAIN = f"app.{INTERNAL_DOMAIN}"
DATABASE_NAME = f"db.{INTERNAL_DOMAIN}"
BALANCER_NAME = f"lb.{INTERNAL_DOMAIN}"
MOTO_URL_HOSTS = f"http://{SUBNET_PREFIX}.5:5000"
MOTO_URL_CONTROLLER = f"http://127.0.0.1:{PORTS['moto']}"
# moto accepts any credentials; on AWS the deployer's and the instance role's are real.
MOTO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "rehearsal", "AWS_SECRET_ACCESS_KEY": "rehearsal"}
MASTER_SECRET_NAME = "rds!db-rehearsal"  # noqa: S105 (a name)
LABEL = "owner=soc2kit-rehearsal"
# pulumi/components/keys.py's ROTATION_PERIOD_DAYS: the program turns rotation on for every key.
KEY_ROTATION_DAYS = 365


@dataclass(frozen=True)
class Container:
    name: str
    ip: str
    hostname: str | None = None
    publish: tuple[str, ...] = ()
    caps: tuple[str, ...] = ()

    def as_var(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "ip": self.ip}
        if self.hostname:
            data["hostname"] = self.hostname
        if self.publish:
            data["publish"] = list(self.publish)
        if self.caps:
            data["caps"] = list(self.caps)
        return data


def app_container(index: int) -> str:
    """The container of app host `index` (0-based): rh-app-1, rh-app-2."""
    return f"rh-app-{index + 1}"


def app_address(index: int) -> str:
    return f"{SUBNET_PREFIX}.{11 + index}"


def containers() -> list[Container]:
    stand_ins = [
        Container("rh-db", f"{SUBNET_PREFIX}.30", hostname=DATABASE_NAME),
        Container("rh-acme", f"{SUBNET_PREFIX}.20", hostname="acme"),
        Container(
            "rh-lb",
            f"{SUBNET_PREFIX}.40",
            hostname=BALANCER_NAME,
            publish=(f"127.0.0.1:{PORTS['https']}:443", f"127.0.0.1:{PORTS['http']}:80"),
            # SYS_ADMIN: Debian's haproxy unit sandboxes itself with mount namespaces.
            caps=("SYS_ADMIN",),
        ),
    ]
    apps = [
        Container(app_container(i), app_address(i), caps=("NET_ADMIN", "SYS_ADMIN"))
        for i in range(APP_HOST_COUNT)
    ]
    return stand_ins + apps


def addresses() -> rehearsal_stack.Addresses:
    return rehearsal_stack.Addresses(
        app_hosts=[app_address(i) for i in range(APP_HOST_COUNT)],
        database=DATABASE_NAME,
        balancer=BALANCER_NAME,
    )


def podman_env() -> dict[str, str]:
    return {"CONTAINERS_CONF": str(MOLECULE_DIR / "containers.conf")}


def aws_env() -> dict[str, str]:
    """What points the controller's AWS calls (Ansible's secretsmanager lookups, preflight) at moto."""
    return {**MOTO_CREDENTIALS, "AWS_ENDPOINT_URL": MOTO_URL_CONTROLLER, "AWS_EC2_METADATA_DISABLED": "true"}


def cloud_vars(master_username: str, db_port: int) -> dict[str, Any]:
    venv = Path(sys.prefix)
    return {
        "rehearsal_state_dir": str(STATE_DIR),
        "rehearsal_network": NETWORK,
        "rehearsal_subnet_prefix": SUBNET_PREFIX,
        "rehearsal_internal_domain": INTERNAL_DOMAIN,
        "rehearsal_site_domain": SITE_DOMAIN,
        "rehearsal_app_count": APP_HOST_COUNT,
        "rehearsal_ports": PORTS,
        "rehearsal_image": IMAGE,
        # moto runs from the controller's own venv (no package index from inside the containers).
        "rehearsal_venv": str(venv),
        "rehearsal_python_home": str(Path(os.path.realpath(sys.executable)).parent.parent),
        "rehearsal_containers": [c.as_var() for c in containers()],
        "rehearsal_etc_hosts": {
            "acme": f"{SUBNET_PREFIX}.20",
            DATABASE_NAME: f"{SUBNET_PREFIX}.30",
            BALANCER_NAME: f"{SUBNET_PREFIX}.40",
            "moto": f"{SUBNET_PREFIX}.5",
        },
        "rehearsal_master_username": master_username,
        "rehearsal_db_port": db_port,
        "rehearsal_database": "app",
    }


def master_password() -> str:
    """The RDS master password of the rehearsal, made once (RDS keeps it in its own secret)."""
    path = STATE_DIR / "master-password"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(30))
    return path.read_text(encoding="utf-8").strip()


def _client(service: str, region: str) -> Any:
    import boto3

    client: Any = boto3.client  # service is chosen at run time; boto3-stubs types literal names only
    return client(
        service,
        region_name=region,
        endpoint_url=MOTO_URL_CONTROLLER,
        aws_access_key_id=MOTO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=MOTO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def seed_moto(stack: rehearsal_stack.MockedStack) -> dict[str, Any]:
    """Secrets, KMS keys, log groups and the audit checkpoint bucket as the program creates them; returns the
    outputs with the ARNs moto gave them. What exists already is kept (a second run changes nothing, as
    `pulumi up` would)."""
    outputs = json.loads(json.dumps(stack.outputs))
    region = outputs["region"]

    # KMS first: the program encrypts every secret with the secrets key, and turns rotation on for each key.
    kms = _client("kms", region)
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    for purpose in outputs["kms_key_arns"]:
        alias = outputs["kms_key_aliases"][purpose]
        key_id = aliases.get(alias)
        if not key_id:
            key_id = kms.create_key(Description=f"rehearsal {purpose}")["KeyMetadata"]["KeyId"]
            kms.create_alias(AliasName=alias, TargetKeyId=key_id)
        kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=KEY_ROTATION_DAYS)
        outputs["kms_key_arns"][purpose] = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    secrets_key = outputs["kms_key_arns"]["secrets"]

    secretsmanager = _client("secretsmanager", region)

    def secret_arn(name: str, value: str) -> str:
        try:
            found = secretsmanager.describe_secret(SecretId=name)
        except secretsmanager.exceptions.ResourceNotFoundException:
            created = secretsmanager.create_secret(Name=name, SecretString=value, KmsKeyId=secrets_key)
            return str(created["ARN"])
        if found.get("KmsKeyId") != secrets_key:
            secretsmanager.update_secret(SecretId=name, KmsKeyId=secrets_key)
        return str(found["ARN"])

    for purpose, arn in outputs["secret_arns"].items():
        name = arn.split(":secret:", 1)[1].rsplit("-", 1)[0]
        outputs["secret_arns"][purpose] = secret_arn(name, stack.secret_values[name])
    master = json.dumps({"username": stack.master_username, "password": master_password()})
    outputs["db_admin_secret_arn"] = secret_arn(MASTER_SECRET_NAME, master)

    logs = _client("logs", region)
    existing = {g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]}
    for name in outputs["log_group_names"].values():
        if name not in existing:
            logs.create_log_group(logGroupName=name)

    # The app writes signed audit checkpoints there, under the program's Object Lock default retention.
    s3 = _client("s3", region)
    bucket = outputs["audit_checkpoint_bucket"]
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        location = (
            {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True, **location)
    s3.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {
                "DefaultRetention": {
                    "Mode": stack.checkpoint_lock["mode"],
                    "Days": stack.checkpoint_lock["days"],
                }
            },
        },
    )
    return outputs


def cloud_up() -> dict[str, Any]:
    """The stand-ins running and seeded; returns the stack outputs (what `pulumi stack output` prints)."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    master_password()
    stack = rehearsal_stack.run(addresses())
    run(
        [
            "ansible-playbook",
            "-i",
            "localhost,",
            str(ANSIBLE_DIR / "rehearsal-cloud.yml"),
            "-e",
            json.dumps(cloud_vars(stack.master_username, int(stack.outputs["db_port"]))),
        ],
        what="the rehearsal's stand-ins (ansible/rehearsal-cloud.yml)",
        fix="read the failed task above; `make destroy ENV=rehearsal` removes every rh-* container",
        env={**podman_env(), "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg")},
        log=log_path("rehearsal-cloud"),
    )
    return seed_moto(stack)


def cloud_down() -> None:
    """Removes every rh-* container and the network (also after a failed run)."""
    env = {**os.environ, **podman_env()}
    names = subprocess.run(  # noqa: S603
        ["podman", "ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.Names}}"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
        env=env,
    ).stdout.split()
    if names:
        subprocess.run(["podman", "rm", "-f", "-t", "5", *names], check=False, env=env, capture_output=True)  # noqa: S603,S607
    subprocess.run(["podman", "network", "rm", "-f", NETWORK], check=False, env=env, capture_output=True)  # noqa: S603,S607
    if any(
        subprocess.run(["podman", "container", "exists", c.name], check=False, env=env).returncode == 0  # noqa: S603,S607
        for c in containers()
    ):
        raise KitError("some rh-* containers are still there", "remove them with `podman rm -f NAME`")


def fetch_acme_listener_ca() -> Path:
    """pebble's listener CA (certbot trusts the ACME server through it; Let's Encrypt needs none)."""
    path = STATE_DIR / "acme-listener-ca.pem"
    result = subprocess.run(
        ["podman", "exec", "rh-acme", "cat", "/etc/pebble/listener/ca.pem"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **podman_env()},
    )
    if result.returncode != 0 or "BEGIN CERTIFICATE" not in result.stdout:
        raise KitError(
            f"cannot read pebble's listener CA from rh-acme: {result.stderr.strip()}",
            "run `make deploy ENV=rehearsal` again (ansible/rehearsal-cloud.yml sets pebble up)",
        )
    path.write_text(result.stdout, encoding="utf-8")
    return path


def fetch_acme_root() -> Path:
    """pebble's issuing root of this run (it makes a new one at every start): the site certificate's CA."""
    path = STATE_DIR / "site-ca.pem"
    path.write_text(local.acme_root_pem("rh-acme"), encoding="utf-8")
    return path


def ansible_env_extras() -> dict[str, str]:
    """Environment of the rehearsal's Ansible runs, on top of the AWS ones (aws.ansible_env). The web server
    the deploy recorded (WEB=) reaches the inventory through SOC2KIT_WEB_SERVER (group_vars/app_hosts/
    site.yml), so the playbooks and the live checks read the same one."""
    return {
        **podman_env(),
        **aws_env(),
        "KIT_CONNECTION": "podman",
        "SOC2KIT_WEB_SERVER": recorded_web() or "nginx",
    }


def playbook_command(playbook: str, environ: dict[str, str]) -> list[str]:
    """prod's ansible-playbook command; the web server is the recorded WEB= (ansible_env_extras)."""
    from . import aws

    return aws.playbook_command(ENV, playbook, environ)


def check_tools() -> None:
    """The rehearsal's preflight: what the AWS preflight checks on the controller, for local stand-ins."""
    from .local import check_local_tools
    from .preflight import check_ansible, check_collections, check_site_settings, context

    check_local_tools()
    ctx = context(ENV)
    problems = [p for p in (check_ansible(ctx), check_collections(ctx), check_site_settings(ctx)) if p]
    image = subprocess.run(  # noqa: S603
        ["podman", "image", "exists", IMAGE],  # noqa: S607
        check=False,
        env={**os.environ, **podman_env()},
    )
    if image.returncode != 0:
        problems.append(f"the test-host image {IMAGE} is missing; run `make image`")  # type: ignore[arg-type]
    if problems:
        raise KitError(
            "preflight for ENV=rehearsal: " + "; ".join(str(p) for p in problems),
            "fix the problems above and run the same command again",
        )
    print("preflight: ok (rehearsal: podman, image, Ansible and its collections)", file=sys.stderr)


def smoke() -> None:
    from . import aws
    from .smoke import smoke_test

    smoke_test(
        aws.public_hostname(ENV),
        PORTS["https"],
        http_port=PORTS["http"],
        cafile=str(fetch_acme_root()),
        connect_to="127.0.0.1",
    )


def verify() -> None:
    """prod's verify step (the live checks against the inventory), then the smoke test via the balancer."""
    from . import aws

    aws.verify(ENV, smoke=smoke)


def deploy(web: str, environ: dict[str, str]) -> Pipeline:
    from . import aws

    aws.rolling_batches(environ)  # a bad DEPLOY_SERIAL fails here, before anything runs
    pipeline = Pipeline(f"make deploy ENV={ENV} WEB={web}")
    holder: dict[str, Any] = {}
    pipeline.add("preflight", check_tools)

    def stand_ins() -> None:
        record_web(web)
        outputs = cloud_up()
        fetch_acme_listener_ca()
        holder["inventory"] = aws.store_outputs(ENV, outputs, "podman")

    pipeline.add("stand-ins for `pulumi up` (containers, mocked stack outputs, moto)", stand_ins)
    pipeline.add("inventory from stack outputs", lambda: aws.show_inventory(ENV, holder["inventory"]))

    def converge(log_name: str) -> int:
        from .local import changes_in_recap

        output = run(
            playbook_command("site.yml", environ),
            what="ansible-playbook site.yml",
            fix="the failed task is named above; hosts of later batches were not touched. "
            f"Fix and re-run, or `make rollback ENV={ENV}`",
            env=aws.ansible_env(ENV),
            log=log_path(log_name),
        )
        changed = changes_in_recap(output)
        print(
            f"site.yml: {'no changes' if changed == 0 else f'{changed} change(s) applied'}", file=sys.stderr
        )
        return changed

    pipeline.add("ansible-playbook site.yml (rolling)", lambda: converge("rehearsal-site"))
    if environ.get("IDEMPOTENCE") == "1":
        pipeline.add("idempotence: site.yml again changes nothing", lambda: check_idempotent(converge))
    # LIVE_CHECKS=0 (scripts/rehearsal-test.sh): `make verify ENV=rehearsal` runs next, with the same live
    # checks in its testinfra row, and the rolling test's load goes through the balancer; once is enough.
    if environ.get("LIVE_CHECKS", "1") != "0":
        pipeline.add("verify (testinfra + HTTPS smoke test)", verify)
    return pipeline


def check_idempotent(converge: Callable[[str], int]) -> None:
    """The second run of site.yml must change nothing (molecule's idempotence step, for the rehearsal)."""
    changed = converge("rehearsal-site-idempotence")
    if changed:
        raise KitError(
            f"the second run of site.yml changed {changed} thing(s); a converged site must report changed=0",
            "the log named above lists the tasks that reported `changed`; make them idempotent",
        )


def record_web(web: str) -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    (STATE_DIR / "web-server").write_text(web + "\n", encoding="utf-8")


def recorded_web() -> str | None:
    """The web server the last `make deploy ENV=rehearsal` recorded (None before any)."""
    path = STATE_DIR / "web-server"
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def deployed_web(given: str) -> str:
    """The web server the last `make deploy ENV=rehearsal` deployed; WEB= must agree with it."""
    recorded = recorded_web()
    if recorded is None:
        raise KitError("the rehearsal was never deployed", "run `make deploy ENV=rehearsal [WEB=...]` first")
    if given and given != recorded:
        raise KitError(
            f"WEB={given} disagrees with the web server the rehearsal runs: {recorded}",
            f"leave WEB= out, or `make deploy ENV=rehearsal WEB={given}` first",
        )
    return recorded


def destroy() -> Pipeline:
    pipeline = Pipeline(f"make destroy ENV={ENV}")
    pipeline.add("remove the rh-* containers and their network", cloud_down)
    return pipeline


def rollback(web: str, environ: dict[str, str]) -> Pipeline:
    from . import aws

    pipeline = Pipeline(f"make rollback ENV={ENV}")
    pipeline.add("inventory from stack outputs", lambda: aws.show_inventory(ENV, recorded_inventory()))
    pipeline.add(
        "ansible-playbook rollback.yml",
        lambda: run(
            playbook_command("rollback.yml", environ),
            what="ansible-playbook rollback.yml",
            fix="RELEASE=<name> picks a release under releases/; see the task error above",
            env=aws.ansible_env(ENV),
        ),
    )
    return pipeline


def recorded_inventory() -> dict[str, Any]:
    """The inventory of the outputs the last deploy recorded (the rehearsal has no `pulumi stack output`)."""
    from . import aws

    path = aws.outputs_file(ENV)
    if not path.is_file():
        raise KitError("the rehearsal was never deployed", "run `make deploy ENV=rehearsal` first")
    return aws.store_outputs(ENV, json.loads(path.read_text(encoding="utf-8")), "podman")


def verify_pipeline(web: str) -> Pipeline:
    from . import aws

    pipeline = Pipeline(f"verify ENV={ENV} WEB={web}")
    pipeline.add("inventory from stack outputs", lambda: aws.show_inventory(ENV, recorded_inventory()))
    pipeline.add("verify (testinfra + HTTPS smoke test)", verify)
    return pipeline


def check_verify_report(evidence_dir: Path = ROOT / "evidence" / ENV) -> None:
    """`make verify ENV=rehearsal` exits 3 when checks could not run. In the rehearsal that is expected of
    exactly the checks that need the outside or an AWS API it lacks (registry's not_in_rehearsal): any other
    check that could not run, and any failure, is an error of the rehearsal."""
    from .verify.registry import CHECKS
    from .verify.result import ERROR, FAIL

    reports = sorted(evidence_dir.glob("*/report.json"))
    if not reports:
        raise KitError(f"no report under {evidence_dir}", "run `make verify ENV=rehearsal` first")
    report = json.loads(reports[-1].read_text(encoding="utf-8"))
    statuses = {check["id"]: check["status"] for check in report["checks"]}
    failed = sorted(name for name, status in statuses.items() if status == FAIL)
    could_not_run = {name for name, status in statuses.items() if status == ERROR}
    expected = {check.check_id for check in CHECKS if check.not_in_rehearsal}
    problems = []
    if failed:
        problems.append(f"failed: {', '.join(failed)}")
    if could_not_run - expected:
        problems.append(
            f"could not run, but can in the rehearsal: {', '.join(sorted(could_not_run - expected))}"
        )
    if problems:
        raise KitError(f"{reports[-1]}: " + "; ".join(problems), f"read {reports[-1].parent / 'report.md'}")
    print(
        f"verify report {reports[-1].parent.name}: no failure; could not run (offline or no AWS API): "
        f"{', '.join(sorted(could_not_run)) or 'none'}",
        file=sys.stderr,
    )


def verify_report_status() -> int:
    """check_verify_report as an exit status for scripts/rehearsal-test.sh (1, the problem printed)."""
    try:
        check_verify_report()
    except KitError as error:
        return error.report(1)
    return 0
