"""Preflight for the AWS environments: every check runs before anything is changed.

Each check returns None when it passes, or a Problem naming what is missing and how to fix it. All
checks run (a user fixes everything in one go); preflight fails if any of them failed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from . import ANSIBLE_DIR, PULUMI_DIR, ROOT, WEB_SERVERS, KitError

# The account id only serves to default key_admin_arns while validating when STS failed; that
# failure already fails preflight, so the placeholder never reaches Pulumi.
_PLACEHOLDER_ACCOUNT = "000000000000"
_PLACEHOLDER_NAMES = ("example.com", "example.org", "example.net", "changeme")
# Amazon's RDS CA bundle: where the AWS inventory takes it from (postgresql_tls_ca_src), where it is
# fetched from, and the file holding its pinned SHA-256 (a reviewed commit changes the pin).
RDS_CA_BUNDLE = ROOT / ".cache" / "rds" / "global-bundle.pem"
RDS_CA_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
RDS_CA_BUNDLE_PIN_FILE = Path(__file__).resolve().parent / "rds-ca-bundle.sha256"
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_FETCH_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Problem:
    check: str
    what: str
    fix: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.what}\n      fix: {self.fix}"


@dataclass(frozen=True)
class Context:
    env: str
    environ: Mapping[str, str]
    pulumi_dir: Path = PULUMI_DIR
    ansible_dir: Path = ANSIBLE_DIR
    rds_ca_bundle: Path = RDS_CA_BUNDLE
    rds_ca_pin_file: Path = RDS_CA_BUNDLE_PIN_FILE

    @property
    def path(self) -> str:
        return self.environ.get("PATH", "")

    @property
    def profile(self) -> str | None:
        """The AWS profile of this stack: Pulumi's `aws:profile` wins over AWS_PROFILE (as in Pulumi)."""
        return (
            str(stack_file_config(self).get("aws:profile") or "") or self.environ.get("AWS_PROFILE") or None
        )

    @property
    def site_file(self) -> Path:
        return self.ansible_dir / "inventories" / self.env / "group_vars" / "app_hosts" / "site.yml"


def profile_env(ctx: Context) -> dict[str, str]:
    """AWS_PROFILE for every child process and boto3 call of the kit: the stack's profile, so Ansible,
    its SSM connection and the kit reach the account Pulumi deploys to."""
    return {"AWS_PROFILE": ctx.profile} if ctx.profile else {}


def export_stack_profile(ctx: Context, environ: MutableMapping[str, str]) -> None:
    """Puts the stack's profile into `environ` (the kit's own os.environ), after refusing a conflicting
    AWS_PROFILE, which this would otherwise hide from preflight."""
    problem = check_profile_agrees(ctx)
    if problem is not None:
        raise KitError(f"[{problem.check}] {problem.what}", problem.fix)
    environ.update(profile_env(ctx))


def which(ctx: Context, tool: str) -> str | None:
    return shutil.which(tool, path=ctx.path)


def stack_file_config(ctx: Context) -> dict[str, Any]:
    """The `config:` map of pulumi/Pulumi.<ENV>.yaml ({} when the file is missing or unreadable)."""
    try:
        data = yaml.safe_load((ctx.pulumi_dir / f"Pulumi.{ctx.env}.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    config = data.get("config") if isinstance(data, dict) else None
    return config if isinstance(config, dict) else {}


def check_pulumi_cli(ctx: Context) -> Problem | None:
    if which(ctx, "pulumi"):
        return None
    return Problem(
        "pulumi CLI",
        "the `pulumi` command is not on PATH; `make deploy`, `make plan` and `make destroy` drive the "
        "stack with it",
        "install the Pulumi CLI (https://www.pulumi.com/docs/install/, e.g. "
        "`curl -fsSL https://get.pulumi.com | sh`), "
        "put ~/.pulumi/bin on PATH, and log in to your state backend (`pulumi login`)",
    )


def pulumi_backend(ctx: Context) -> tuple[str | None, Problem | None]:
    """The URL of the state backend Pulumi is logged in to (`pulumi whoami --verbose`), or the problem."""
    pulumi = which(ctx, "pulumi")
    if pulumi is None:
        return None, None  # reported by check_pulumi_cli
    result = subprocess.run(  # noqa: S603
        [pulumi, "whoami", "--verbose", "--non-interactive"],
        cwd=ctx.pulumi_dir,
        env=dict(ctx.environ),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return None, Problem(
            "pulumi backend",
            f"`pulumi whoami` failed: {result.stderr.strip() or result.stdout.strip()}",
            "log in to the backend that holds the stack state: `pulumi login` (Pulumi Cloud), "
            "`pulumi login s3://<bucket>` (self-managed, encrypted bucket) or `pulumi login --local`",
        )
    match = re.search(r"^Backend URL:\s*(\S+)", result.stdout, re.MULTILINE)
    return (match.group(1) if match else None), None


def is_self_managed(backend_url: str) -> bool:
    """file://, s3://, azblob://, gs://, postgres:// ... : state Pulumi Cloud does not encrypt for us."""
    return not backend_url.startswith(("https://", "http://"))


def check_stack_exists(ctx: Context, backend_url: str | None) -> Problem | None:
    """`pulumi stack ls` of this project in the logged-in backend lists the stack `make` was asked for."""
    pulumi = which(ctx, "pulumi")
    if pulumi is None:
        return None  # reported by check_pulumi_cli
    result = subprocess.run(  # noqa: S603
        [pulumi, "stack", "ls", "--json", "--non-interactive"],
        cwd=ctx.pulumi_dir,
        env=dict(ctx.environ),
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        stacks = json.loads(result.stdout) if result.returncode == 0 else None
        # Pulumi Cloud may print org/project/stack; a self-managed backend the bare name.
        names = (
            {str(stack["name"]).rsplit("/", 1)[-1] for stack in stacks} if isinstance(stacks, list) else None
        )
    except (json.JSONDecodeError, KeyError, TypeError):
        names = None
    if names is None:
        return Problem(
            "pulumi stack",
            f"`pulumi stack ls --json` failed (status {result.returncode}): "
            f"{result.stderr.strip() or result.stdout.strip()[:200]}",
            "check the backend login (`pulumi whoami --verbose`) and run the same command again",
        )
    if ctx.env in names:
        return None
    backend = f"backend {backend_url}" if backend_url else "the logged-in backend"
    secrets = (
        " --secrets-provider awskms://alias/<your key>?region=<region>"
        if backend_url and is_self_managed(backend_url)
        else ""
    )
    return Problem(
        "pulumi stack",
        f"stack {ctx.env!r} does not exist in {backend} (it has: {', '.join(sorted(names)) or 'none'})",
        f"create it once: `cd pulumi && pulumi stack init {ctx.env}{secrets}` (it keeps "
        f"Pulumi.{ctx.env}.yaml), or `pulumi login` to the backend that holds it",
    )


def _passphrase_available(environ: Mapping[str, str]) -> bool:
    if environ.get("PULUMI_CONFIG_PASSPHRASE"):
        return True
    path = environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    try:
        return bool(path) and Path(str(path)).read_text(encoding="utf-8").strip() != ""
    except OSError:
        return False


def check_passphrase(ctx: Context, backend_url: str | None) -> Problem | None:
    """A stack whose secrets provider is a passphrase needs it in the environment: `pulumi up --yes`
    (AUTO_APPROVE=1), `pulumi stack output` and the inventory run without a terminal to ask on.

    The passphrase provider is what the stack file says (an `encryptionsalt`), or what a stack on a
    self-managed backend gets when no other provider is named.
    """
    stack_file = ctx.pulumi_dir / f"Pulumi.{ctx.env}.yaml"
    try:
        data = yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        data = {}
    data = data if isinstance(data, dict) else {}
    provider = str(data.get("secretsprovider") or "passphrase")
    self_managed = backend_url is not None and is_self_managed(backend_url)
    if not ("encryptionsalt" in data or (self_managed and provider == "passphrase")):
        return None
    if _passphrase_available(ctx.environ):
        return None
    where = f"the self-managed backend {backend_url}" if self_managed else f"Pulumi.{ctx.env}.yaml"
    return Problem(
        "pulumi passphrase",
        f"stack {ctx.env!r} encrypts its secrets with a passphrase ({where}), and neither "
        "PULUMI_CONFIG_PASSPHRASE nor PULUMI_CONFIG_PASSPHRASE_FILE (a readable, non-empty file) is set; "
        "`make` runs Pulumi without a prompt (AUTO_APPROVE=1 too)",
        "export PULUMI_CONFIG_PASSPHRASE_FILE=<file readable only by you, from your password manager>, "
        f"or move the stack to a KMS key: `pulumi stack change-secrets-provider --stack {ctx.env} "
        "awskms://alias/<your key>?region=<region>`",
    )


def check_profile_agrees(ctx: Context) -> Problem | None:
    stack_profile = str(stack_file_config(ctx).get("aws:profile") or "")
    given = ctx.environ.get("AWS_PROFILE", "")
    if stack_profile and given and stack_profile != given:
        return Problem(
            "AWS profile",
            f"AWS_PROFILE={given!r}, but Pulumi.{ctx.env}.yaml sets aws:profile {stack_profile!r}, which "
            "Pulumi uses (and so Ansible and the kit, to reach the same account)",
            f"unset AWS_PROFILE, or change the stack's profile: `pulumi config set --stack {ctx.env} "
            "aws:profile NAME`",
        )
    return None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pinned_rds_ca_sha256(pin_file: Path) -> str | None:
    """The pinned digest: the first line of the pin file that is not a comment (None when there is none)."""
    try:
        lines = pin_file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        token = line.split("#", 1)[0].strip().lower()
        if token:
            return token if _SHA256_HEX.match(token) else None
    return None


def fetch_url(url: str) -> bytes:
    """HTTPS GET with certificate verification (the system CA store)."""
    context = ssl.create_default_context()
    with urllib.request.urlopen(url, timeout=_FETCH_TIMEOUT_SECONDS, context=context) as response:  # noqa: S310
        return bytes(response.read())


def check_rds_ca_bundle(
    ctx: Context, fetch: Callable[[str], bytes] = fetch_url, out: Any = None
) -> Problem | None:
    """The RDS CA bundle the hosts verify the database with: present, or fetched and checked against the
    pinned SHA-256 before it is written (a mismatch writes nothing)."""
    bundle = ctx.rds_ca_bundle
    shown = bundle.relative_to(ROOT) if bundle.is_relative_to(ROOT) else bundle
    manual = (
        f"mkdir -p {shown.parent} && curl -fsSL -o {shown} {RDS_CA_BUNDLE_URL}, "
        'check it (roles/postgresql/README.md, "RDS CA bundle") and run the same command again'
    )
    if bundle.is_file():
        if b"-----BEGIN CERTIFICATE-----" in bundle.read_bytes():
            return None
        return Problem(
            "RDS CA bundle", f"{shown} holds no PEM certificate", f"delete it and run again, or {manual}"
        )
    pinned = pinned_rds_ca_sha256(ctx.rds_ca_pin_file)
    pin_shown = ctx.rds_ca_pin_file.name
    if pinned is None:
        return Problem(
            "RDS CA bundle",
            f"{shown} is missing, and scripts/kit/{pin_shown} holds no SHA-256 to check a download against",
            f"{manual}; then record its `sha256sum` in scripts/kit/{pin_shown} in a reviewed commit",
        )
    try:
        data = fetch(RDS_CA_BUNDLE_URL)
    except OSError as error:
        return Problem(
            "RDS CA bundle", f"{shown} is missing and fetching {RDS_CA_BUNDLE_URL} failed: {error}", manual
        )
    digest = sha256_hex(data)
    if digest != pinned:
        return Problem(
            "RDS CA bundle",
            f"the bundle downloaded from {RDS_CA_BUNDLE_URL} has SHA-256 {digest}, not the pinned {pinned} "
            f"(scripts/kit/{pin_shown}); nothing was written",
            "Amazon adds CAs to the bundle over time: check the new one (certificate count and subjects, "
            "roles/postgresql/README.md) and update the pin in a reviewed commit; "
            "or a proxy altered the download: fetch it from another network",
        )
    bundle.parent.mkdir(parents=True, exist_ok=True)
    partial = bundle.with_suffix(".pem.partial")
    partial.write_bytes(data)
    partial.replace(bundle)
    print(f"preflight: fetched {shown} (SHA-256 matches the pin)", file=out or sys.stderr)
    return None


def check_ansible(ctx: Context) -> Problem | None:
    missing = [
        tool for tool in ("ansible-playbook", "ansible-inventory", "ansible-galaxy") if not which(ctx, tool)
    ]
    if missing:
        return Problem(
            "ansible",
            f"{', '.join(missing)} not on PATH",
            "run `make setup` (installs the pinned ansible into .venv) and use the make targets, "
            "which put .venv/bin on PATH",
        )
    return None


def required_collections(ansible_dir: Path) -> list[str]:
    data = yaml.safe_load((ansible_dir / "requirements.yml").read_text(encoding="utf-8")) or {}
    return [entry["name"] if isinstance(entry, dict) else str(entry) for entry in data.get("collections", [])]


def check_collections(ctx: Context) -> Problem | None:
    galaxy = which(ctx, "ansible-galaxy")
    if galaxy is None:
        return None  # reported by check_ansible
    try:
        wanted = required_collections(ctx.ansible_dir)
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        return Problem(
            "ansible collections",
            f"cannot read ansible/requirements.yml: {error}",
            "restore the file from git",
        )
    result = subprocess.run(  # noqa: S603
        [galaxy, "collection", "list", "--format", "json"],
        cwd=ctx.ansible_dir,
        env={**ctx.environ, "ANSIBLE_CONFIG": str(ctx.ansible_dir / "ansible.cfg")},
        capture_output=True,
        text=True,
        check=False,
    )
    installed: set[str] = set()
    try:
        for collections in json.loads(result.stdout or "{}").values():
            installed.update(collections)
    except (json.JSONDecodeError, AttributeError):
        return Problem(
            "ansible collections",
            f"`ansible-galaxy collection list` failed (status {result.returncode}): {result.stderr.strip()}",
            "run `make setup`",
        )
    missing = [name for name in wanted if name not in installed]
    if not missing:
        return None
    return Problem(
        "ansible collections",
        f"missing: {', '.join(missing)}",
        "run `make setup` (the pinned ansible package bundles them) or "
        "`ansible-galaxy collection install -r ansible/requirements.yml`",
    )


def check_ssm_plugin(ctx: Context) -> Problem | None:
    """Hosts without SSH (no ssh_admin_cidr in the stack) are reached through SSM: it needs AWS's plugin."""
    if stack_file_config(ctx).get("soc2kit:ssh_admin_cidr"):
        return None
    if which(ctx, "session-manager-plugin"):
        return None
    return Problem(
        "session-manager-plugin",
        f"stack {ctx.env} sets no soc2kit:ssh_admin_cidr, so Ansible reaches the hosts through AWS SSM, "
        "and the `session-manager-plugin` command is not on PATH",
        "install AWS's Session Manager plugin (https://docs.aws.amazon.com/systems-manager/latest/userguide/"
        "session-manager-working-with-install-plugin.html), "
        "or set soc2kit:ssh_admin_cidr to reach the hosts by SSH",
    )


def aws_caller_identity(
    ctx: Context, session_factory: Callable[..., Any] | None = None
) -> tuple[str | None, Problem | None]:
    """The account id of the credentials Pulumi will use (AWS_PROFILE or aws:profile), or the problem."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

    profile = ctx.profile
    region = str(stack_file_config(ctx).get("aws:region") or ctx.environ.get("AWS_REGION") or "us-east-1")
    shown = f"profile {profile!r}" if profile else "the default credential chain (no AWS_PROFILE)"
    login_fix = (
        f"configure credentials for {shown}: `aws configure sso --profile NAME`, "
        "then `aws sso login --profile NAME` "
        "and run with AWS_PROFILE=NAME (or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
    )
    factory = session_factory or boto3.session.Session
    try:
        session = factory(profile_name=profile) if profile else factory()
        identity = session.client("sts", region_name=region).get_caller_identity()
    except ProfileNotFound:
        return None, Problem("AWS credentials", f"AWS profile {profile!r} is not configured", login_fix)
    except NoCredentialsError:
        return None, Problem("AWS credentials", f"no AWS credentials found for {shown}", login_fix)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "unknown")
        return None, Problem("AWS credentials", f"AWS refused the credentials of {shown} ({code})", login_fix)
    except BotoCoreError as error:
        return None, Problem(
            "AWS credentials", f"cannot check the credentials of {shown}: {error}", login_fix
        )
    return str(identity["Account"]), None


def _load_config_module(pulumi_dir: Path) -> ModuleType:
    """Imports pulumi/config.py (the program's own validator) without making pulumi/ a package."""
    spec = importlib.util.spec_from_file_location("soc2kit_stack_config", pulumi_dir / "config.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {pulumi_dir / 'config.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _as_config_string(value: Any) -> str:
    """What `pulumi.Config.get` returns for a stack-file value: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def check_stack_config(ctx: Context, account_id: str | None) -> Problem | None:
    """The stack file exists and pulumi/config.py accepts it (the same validation `pulumi up` runs first)."""
    stack_file = ctx.pulumi_dir / f"Pulumi.{ctx.env}.yaml"
    shown = stack_file.relative_to(ctx.pulumi_dir.parent)
    fix = f"edit {shown} (or `pulumi config set --stack {ctx.env} soc2kit:KEY VALUE`)"
    if not stack_file.is_file():
        return Problem(
            "stack config",
            f"{stack_file} does not exist",
            f"create the stack: `pulumi stack init {ctx.env}` in pulumi/, then {fix}",
        )
    try:
        data = yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}
        project = (yaml.safe_load((ctx.pulumi_dir / "Pulumi.yaml").read_text(encoding="utf-8")) or {}).get(
            "name", ""
        )
    except (OSError, yaml.YAMLError) as error:
        return Problem("stack config", f"cannot read the stack files: {error}", fix)
    config = data.get("config", {}) if isinstance(data, dict) else {}
    try:
        module = _load_config_module(ctx.pulumi_dir)
    except Exception as error:  # any import failure of the program's module is reported, not raised
        return Problem(
            "stack config",
            f"cannot import pulumi/config.py: {error}",
            "run `make setup`; check pulumi/config.py",
        )
    namespace = f"{module.NAMESPACE}:"
    raw = {
        key[len(namespace) :]: _as_config_string(value)
        for key, value in config.items()
        if key.startswith(namespace)
    }
    region = config.get("aws:region")
    try:
        module.parse_config(
            raw,
            project=project,
            stack=ctx.env,
            region=str(region) if region is not None else None,
            account_id=account_id or _PLACEHOLDER_ACCOUNT,
        )
    except module.ConfigError as error:
        return Problem("stack config", str(error), fix)
    return None


def site_settings(ctx: Context) -> dict[str, Any]:
    """ansible/inventories/<ENV>/group_vars/app_hosts/site.yml, the choices only the user can make."""
    try:
        data = yaml.safe_load(ctx.site_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise KitError(
            f"cannot read {ctx.site_file}: {error}", f"restore it from git: git checkout -- {ctx.site_file}"
        ) from error
    if not isinstance(data, dict):
        raise KitError(f"{ctx.site_file} is not a YAML map of settings", "restore it from git")
    return data


# The web server of the container stacks (ENV=local, ENV=rehearsal) is make's WEB=, passed to every Ansible
# run and live check as SOC2KIT_WEB_SERVER; site.yml's own preflight asserts it is nginx or apache.
WEB_SERVER_FROM_MAKE = "{{ lookup('ansible.builtin.env', 'SOC2KIT_WEB_SERVER') | default('nginx', true) }}"


def check_site_settings(ctx: Context) -> Problem | None:
    """The public names, certificate contact, web server and HSTS preload decision are set for this ENV."""
    shown = ctx.site_file.relative_to(ctx.ansible_dir.parent)
    try:
        data = site_settings(ctx)
    except KitError as error:
        return Problem("site settings", error.what, error.fix)
    names = data.get("soc2kit_public_hostnames")
    email = data.get("soc2kit_contact_email")
    problems = []
    if (
        not isinstance(names, list)
        or not names
        or any(not isinstance(n, str) or n.endswith(_PLACEHOLDER_NAMES) for n in names)
    ):
        problems.append("soc2kit_public_hostnames must list your site's DNS names (not example.com)")
    if not isinstance(email, str) or "@" not in email or email.split("@")[-1].endswith(_PLACEHOLDER_NAMES):
        problems.append(
            "soc2kit_contact_email must be a real address for the certificate authority's notices"
        )
    if data.get("web_server") not in WEB_SERVERS and data.get("web_server") != WEB_SERVER_FROM_MAKE:
        problems.append(f"web_server must be one of {', '.join(WEB_SERVERS)} (this environment's web server)")
    if not isinstance(data.get("soc2kit_hsts_preload"), bool):
        problems.append(
            "soc2kit_hsts_preload must be true or false: your decision on HSTS preloading "
            "(see the comment in the file; hard to undo once browsers ship it)"
        )
    fix = f"edit {shown}: " + ", ".join(p.split(" ", 1)[0] for p in problems)
    return Problem("site settings", "; ".join(problems), fix) if problems else None


def check_confirmation_possible(ctx: Context, interactive: bool) -> Problem | None:
    if ctx.environ.get("AUTO_APPROVE") == "1" or interactive:
        return None
    return Problem(
        "confirmation",
        "no terminal to confirm Pulumi's preview and AUTO_APPROVE is not 1",
        "run from a terminal to review the preview, or set AUTO_APPROVE=1 to apply without asking",
    )


def run_preflight(
    ctx: Context,
    *,
    action: str,
    interactive: bool | None = None,
    session_factory: Callable[..., Any] | None = None,
    fetch: Callable[[str], bytes] | None = None,
    out: Any = None,
) -> str | None:
    """Runs the checks `action` needs; returns the AWS account id, or raises KitError listing all problems."""
    out = out or sys.stderr
    interactive = sys.stdin.isatty() if interactive is None else interactive
    # Every AWS action reads the stack: rollback and verify too, for the inventory's outputs.
    problems: list[Problem | None] = [check_pulumi_cli(ctx)]
    if action in ("deploy", "rollback", "verify"):
        problems += [check_ansible(ctx), check_collections(ctx), check_ssm_plugin(ctx)]
    if action in ("deploy", "verify"):
        problems.append(check_site_settings(ctx))
    account_id, credentials_problem = aws_caller_identity(ctx, session_factory)
    problems.append(credentials_problem)
    problems.append(check_profile_agrees(ctx))
    if action in ("deploy", "plan"):
        problems.append(check_stack_config(ctx, account_id))
    if action == "deploy":
        problems.append(check_rds_ca_bundle(ctx, fetch or fetch_url, out))
    backend_url, login_problem = pulumi_backend(ctx)
    problems.append(login_problem)
    if login_problem is None:
        problems += [check_stack_exists(ctx, backend_url), check_passphrase(ctx, backend_url)]
    if action in ("deploy", "destroy"):
        problems.append(check_confirmation_possible(ctx, interactive))
    found = [p for p in problems if p is not None]
    if found:
        raise KitError(
            f"preflight for `make {action} ENV={ctx.env}` found {len(found)} problem(s); "
            "nothing was changed:\n  " + "\n  ".join(str(p) for p in found),
            "fix the problems above and run the same command again",
        )
    print(f"preflight: ok (AWS account {account_id}, profile {ctx.profile or 'default'})", file=out)
    return account_id


def context(env: str) -> Context:
    return Context(env=env, environ=dict(os.environ))
