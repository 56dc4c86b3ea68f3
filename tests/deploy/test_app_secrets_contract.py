"""The secrets Pulumi stores are the secrets the app reads: formats and names, end to end.

The chain a real deploy goes through, each link the real code:
1. the Pulumi program under its test mocks (pulumi/tests/harness.py) declares each secret's value;
2. those values go into Secrets Manager (moto's server on loopback), which assigns the ARNs;
3. the stack outputs, with those ARNs, go through the inventory script and the aws_shared group
   variables, rendered by Ansible itself (DJANGO_SECRET_ARNS_<NAME> mapping, DATABASE_URL, KMS key);
4. the app's production settings are imported with that environment, as the django_app role writes it.
A secret stored in a format the app does not read, or mapped to the wrong name, fails step 4.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import fake_aws
import pytest
from ansible_render import render

from .conftest import ROOT, VENV_BIN

STACK = "dev"
REGION = "eu-west-1"

# Run in pulumi/ (as scripts/test-pulumi.sh does): the program and its mocks, printed as JSON.
DECLARE_SECRETS = """
import base64, json
from tests.harness import generated, run_program, stack_config

run = run_program(stack_config({stack!r}), stack={stack!r})
# What the mocked random provider returned: RandomPassword.result, RandomBytes.base64.
passwords = run.of_type("random:index/randomPassword:RandomPassword")
random_bytes = run.of_type("random:index/randomBytes:RandomBytes")
generated_values = [generated(r.name, int(r.inputs["length"])).decode() for r in passwords] + [
    base64.b64encode(generated(r.name, int(r.inputs["length"]))).decode() for r in random_bytes
]
names = {{r.id: r.inputs["name"] for r in run.of_type("aws:secretsmanager/secret:Secret")}}
values = {{
    names[r.inputs["secretId"]]: r.inputs["secretString"]["value"]
    for r in run.of_type("aws:secretsmanager/secretVersion:SecretVersion")
}}
print(json.dumps({{"exports": run.exports, "values": values, "generated": generated_values}}))
"""

# Run in app/ with the deployed environment: what production settings make of the secrets.
READ_SETTINGS = """
import base64, json
from django.conf import settings
from soc2kit.encryption.config import load_settings

encryption = load_settings()
db = settings.DATABASES["default"]
print(json.dumps({
    "secret_key": settings.SECRET_KEY,
    "blind_index_key": base64.b64encode(encryption.blind_index_keys[encryption.blind_index_active]).decode(),
    "kms_key_id": encryption.kms_key_id,
    "db": {key: db[key] for key in ("HOST", "PORT", "NAME", "USER", "PASSWORD")},
    "sslmode": db["OPTIONS"]["sslmode"],
}))
"""

INVENTORY = ROOT / "ansible" / "inventories" / STACK
MIGRATE_ENV = "{{ django_app_migrate_env | to_json }}"
RENDERED = (
    "{{ {'arns': django_app_secret_arns, 'url': django_app_database_url, 'mode': django_app_secrets_mode, "
    "'kek': django_app_kek_backend, 'kms': django_app_kms_key_id, 'region': django_app_aws_region, "
    "'hosts': django_app_allowed_hosts} | to_json }}"
)


def run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def base_env() -> dict[str, str]:
    """This environment without any AWS, Pulumi, kit or Django settings of the caller."""
    prefixes = ("AWS_", "PULUMI_", "KIT_", "DJANGO_", "FIELD_ENCRYPTION_", "DATABASE_")
    return {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}


@pytest.fixture(scope="module")
def secrets_manager() -> Iterator[str]:
    with fake_aws.moto_server() as endpoint_url:
        yield endpoint_url


@pytest.fixture(scope="module")
def declared() -> dict:
    """The stack's exports, the value of each secret keyed by the secret's name, the random values."""
    script = DECLARE_SECRETS.format(stack=STACK)
    return json.loads(run([str(VENV_BIN / "python"), "-c", script], ROOT / "pulumi", base_env()))


@pytest.fixture(scope="module")
def deployed(declared: dict, secrets_manager: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The app's production settings, read with the environment the deploy gives it."""
    client = fake_aws.secretsmanager(secrets_manager, REGION)
    arn_by_name = {
        name: client.create_secret(Name=name, SecretString=value)["ARN"]
        for name, value in declared["values"].items()
    }
    # AWS assigns the ARN: <name>-<6 random characters>. Put the real ones into the outputs.
    outputs = json.loads(json.dumps(declared["exports"]))
    for key, mocked_arn in outputs["secret_arns"].items():
        name = mocked_arn.split(":secret:", 1)[1].rsplit("-", 1)[0]
        outputs["secret_arns"][key] = arn_by_name[name]
    work = tmp_path_factory.mktemp("deployed")
    outputs_file = work / "outputs.json"
    outputs_file.write_text(json.dumps(outputs))

    from kit.aws import ansible_env

    ansible = base_env() | ansible_env(STACK) | {"KIT_PULUMI_OUTPUTS_FILE": str(outputs_file)}
    rendered = render(INVENTORY, RENDERED, ansible)

    # What roles/django_app/templates/etc/django-app/app.env.j2 writes for these variables.
    ca_bundle = (
        work / "rds-global-bundle.pem"
    )  # the role's path is on the hosts; the app only checks it exists
    ca_bundle.write_text("not read: no database connection is made\n")
    app_env = base_env() | {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_ALLOWED_HOSTS": ",".join(rendered["hosts"]),
        "DJANGO_SECRETS_BACKEND": rendered["mode"],
        "FIELD_ENCRYPTION_KEK_BACKEND": rendered["kek"],
        "FIELD_ENCRYPTION_KMS_KEY_ID": rendered["kms"],
        "DATABASE_URL": rendered["url"],
        "DJANGO_DB_CA_BUNDLE": str(ca_bundle),
        "AWS_REGION": rendered["region"],
        "AWS_DEFAULT_REGION": rendered["region"],
        **fake_aws.aws_env(secrets_manager),
    }
    app_env |= {f"DJANGO_SECRET_ARNS_{name}": arn for name, arn in rendered["arns"].items()}
    settings = read_settings(app_env)

    # `manage.py migrate`: the same environment plus migrate.env, whose owner login Ansible reads from
    # Secrets Manager on the controller (the deployer's credentials; here moto's).
    deployer = ansible | fake_aws.aws_env(secrets_manager)
    migrate_env = render(INVENTORY, MIGRATE_ENV, deployer)
    return settings | {
        "outputs": outputs,
        "rendered": rendered,
        "migrate_env": migrate_env,
        "migrate": read_settings(app_env | migrate_env),
        "deployer_env": deployer,
        "app_env": app_env,
    }


def read_settings(env: dict[str, str]) -> dict:
    """What the app's production settings make of `env` (READ_SETTINGS in a process of its own)."""
    package = {"PYTHONPATH": str(ROOT / "packages" / "soc2kit" / "src")}  # the soc2kit package, as installed
    return json.loads(run([str(VENV_BIN / "python"), "-c", READ_SETTINGS], ROOT / "app", env | package))


def value(declared: dict, key: str) -> str:
    """The value Pulumi stores in the secret whose output key is `key` (django_secret_key, ...).

    Secret names end in a suffix generated per stack (destroy-then-deploy must not reuse a name).
    """
    (name,) = [name for name in declared["values"] if name.startswith(f"soc2kit/{STACK}/{key}-")]
    return declared["values"][name]


def test_inventory_maps_every_stack_secret_to_an_app_secret_name(deployed: dict) -> None:
    assert deployed["rendered"]["arns"] == {
        "DJANGO_SECRET_KEY": deployed["outputs"]["secret_arns"]["django_secret_key"],
        "FIELD_ENCRYPTION_BLIND_INDEX_KEY": deployed["outputs"]["secret_arns"][
            "field_encryption_blind_index_key"
        ],
        "DATABASE_CREDENTIALS": deployed["outputs"]["secret_arns"]["db_app_credentials"],
    }


def test_app_uses_the_generated_django_secret_key(deployed: dict, declared: dict) -> None:
    # The generated string itself, not a document holding it (the app takes any long string).
    assert deployed["secret_key"] == value(declared, "django_secret_key")
    assert deployed["secret_key"] in declared["generated"]
    assert len(deployed["secret_key"]) >= 50


def test_app_uses_the_generated_blind_index_key(deployed: dict, declared: dict) -> None:
    assert deployed["blind_index_key"] == value(declared, "field_encryption_blind_index_key")
    assert deployed["blind_index_key"] in declared["generated"]
    assert len(base64.b64decode(deployed["blind_index_key"], validate=True)) == 32


def test_app_wraps_data_keys_with_the_stacks_field_encryption_kms_key(deployed: dict) -> None:
    assert deployed["kms_key_id"] == deployed["outputs"]["kms_key_arns"]["field_encryption"]


def test_app_logs_in_to_the_stacks_database_with_the_generated_credentials(
    deployed: dict, declared: dict
) -> None:
    credentials = json.loads(value(declared, "db_app_credentials"))
    assert deployed["db"] == {
        "HOST": deployed["outputs"]["db_endpoint"],
        "PORT": deployed["outputs"]["db_port"],
        "NAME": deployed["outputs"]["db_name"],
        "USER": credentials["username"],
        "PASSWORD": credentials["password"],
    }
    assert deployed["db"]["PASSWORD"] in declared["generated"]
    assert deployed["sslmode"] == "verify-full"


def test_migrate_logs_in_as_the_schema_owner_from_the_controllers_read_of_its_secret(
    deployed: dict, declared: dict
) -> None:
    owner = json.loads(value(declared, "db_owner_credentials"))
    assert deployed["migrate"]["db"] == {
        "HOST": deployed["outputs"]["db_endpoint"],
        "PORT": deployed["outputs"]["db_port"],
        "NAME": deployed["outputs"]["db_name"],
        "USER": owner["username"],
        "PASSWORD": owner["password"],
    }
    assert owner["password"] in declared["generated"]
    assert deployed["migrate"]["sslmode"] == "verify-full"
    # The owner's login is in the URL, not behind an ARN the hosts' role would need to read.
    assert deployed["migrate_env"]["DJANGO_DATABASE_CREDENTIALS_SOURCE"] == "url"
    assert not any(name.startswith("DJANGO_SECRET_ARNS_") for name in deployed["migrate_env"])
    owner_arn = deployed["outputs"]["secret_arns"]["db_owner_credentials"]
    assert owner_arn not in deployed["rendered"]["arns"].values()


def test_owner_password_with_every_special_pulumi_may_generate_reaches_migrate_intact(
    deployed: dict, secrets_manager: str
) -> None:
    """migrate.env.j2 writes NAME=value unquoted: the URL must need no quoting in systemd's
    EnvironmentFile, and the app must decode the password back exactly."""
    password = "Aa0-_.~!#%^*+=Zz9"  # app_secrets.py: override_special="-_.~!#%^*+="
    arn = fake_aws.secretsmanager(secrets_manager, REGION).create_secret(
        Name="soc2kit/specials/db_owner_credentials",
        SecretString=json.dumps({"username": "app_owner", "password": password}),
    )["ARN"]
    arns = deployed["outputs"]["secret_arns"] | {"db_owner_credentials": arn}
    extra = json.dumps({"soc2kit_secret_arns": arns})
    migrate_env = render(INVENTORY, MIGRATE_ENV, deployed["deployer_env"], "-e", extra)
    for name, text in migrate_env.items():
        assert re.fullmatch(r"[A-Za-z0-9_.~/:@?=%-]+", text), f"{name}={text} needs quoting"
    migrate = read_settings(deployed["app_env"] | migrate_env)
    assert (migrate["db"]["USER"], migrate["db"]["PASSWORD"]) == ("app_owner", password)
