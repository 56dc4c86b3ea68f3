"""django_app_secrets_mode=aws against a moto server standing in for AWS (the real boto3 path runs).

Set-up, all on the app host: moto's server on 127.0.0.1:5000 (moto_host.py, shared with the
other AWS-mode tests); a KMS key and the app's
secrets created in it, with the values the host already has in file mode (so the data encrypted
so far stays readable). The secret values never pass through this test or the controller: only
the ARNs do. Then ansible/deploy-app.yml switches the host to aws mode, the app must be ready with
no secret on disk or in its environment, and the host is switched back to file mode at the end.
"""

from __future__ import annotations

import json

import moto_host
import pytest
from conftest import current_facts, database_login, scenario_playbook
from moto_host import MOTO_URL, REGION, put_text

# Changes the deployment or interrupts a service while it runs (see conftest.py).
pytestmark = pytest.mark.disruptive

SOCKET = "/run/django-app/gunicorn.sock"
SECRET_NAMES = ("DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_LOCAL_KEKS", "FIELD_ENCRYPTION_BLIND_INDEX_KEY")


# Runs on the app host with the moto venv's python: copies the file-mode secrets into moto's
# Secrets Manager (encrypted with a moto KMS key) and prints only ARNs and the credential-free URL.
SEED_SECRETS = r"""
import json, secrets, sys, urllib.parse
import boto3

def read_env(path):
    values = {}
    for line in open(path).read().splitlines():
        if "=" not in line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            out, chars = [], iter(value[1:-1])
            for char in chars:
                out.append(next(chars, "") if char == "\\" else char)
            value = "".join(out)
        values[name] = value
    return values

endpoint, region, names = sys.argv[1], sys.argv[2], sys.argv[3:]
env = read_env("/etc/django-app/secrets.env")
url = urllib.parse.urlsplit(env["DATABASE_URL"])
credentials = {"username": urllib.parse.unquote(url.username), "password": urllib.parse.unquote(url.password)}
netloc = f"{url.hostname}:{url.port or 5432}"
plain_url = urllib.parse.urlunsplit((url.scheme, netloc, url.path, url.query, ""))
kms = boto3.client("kms", endpoint_url=endpoint, region_name=region)
key = kms.create_key(Description="soc2kit molecule secrets")["KeyMetadata"]["Arn"]
sm = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=region)
suffix = secrets.token_hex(4)
values = {name: env[name] for name in names}
values["DATABASE_CREDENTIALS"] = json.dumps(credentials)
arns = {
    name: sm.create_secret(Name=f"soc2kit/{name}-{suffix}", SecretString=value, KmsKeyId=key)["ARN"]
    for name, value in values.items()
}
print(json.dumps({"arns": arns, "database_url": plain_url, "kms_key": key}))
"""


# Runs on the app host: prints each secret value of the file-mode secrets file (and the string
# leaves of JSON values, e.g. the key inside FIELD_ENCRYPTION_LOCAL_KEKS), one per line.
WRITE_NEEDLES = r"""
import json, sys
values = {}
for line in open("/etc/django-app/secrets.env").read().splitlines():
    name, _, value = line.partition("=")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        out, chars = [], iter(value[1:-1])
        for char in chars:
            out.append(next(chars, "") if char == "\\" else char)
        values[name] = "".join(out)

def leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, str) and len(value) >= 20:
        yield value

for name in sys.argv[1:]:
    print(values[name])
    try:
        for leaf in leaves(json.loads(values[name])):
            print(leaf)
    except ValueError:
        pass
"""


def readyz(host) -> tuple[str, str]:
    result = host.run(
        f"curl -sS --max-time 20 --unix-socket {SOCKET} -H 'Host: {current_facts().domain}' "
        "-H 'X-Forwarded-Proto: https' -w '\\n%{http_code}' http://localhost/readyz"
    )
    body, _, status = result.stdout.rpartition("\n")
    return status, body


@pytest.fixture(scope="module")
def moto(app_host):
    """moto server on the app host's loopback, seeded with the app's secrets; stopped afterwards."""
    if (
        app_host.check_output(
            "sed -n 's/^DJANGO_SECRETS_BACKEND=\"\\(.*\\)\"$/\\1/p' /etc/django-app/app.env"
        )
        != "env"
    ):
        pytest.fail("the scenario must converge in file mode (django_app_secrets_mode: file) for this test")
    moto_host.start(app_host)
    seeded = moto_host.run_python(app_host, SEED_SECRETS, MOTO_URL, REGION, *SECRET_NAMES)
    assert seeded.rc == 0, seeded.stderr[-2000:]
    yield json.loads(seeded.stdout)
    moto_host.stop(app_host)


@pytest.fixture(scope="module")
def aws_deploy(app_host, moto):
    """The host switched to aws mode (and back to file mode afterwards)."""
    result = scenario_playbook(
        "deploy-app.yml",
        django_app_secrets_mode="aws",
        django_app_aws_region=REGION,
        django_app_aws_endpoint_url=MOTO_URL,
        django_app_secret_arns=moto["arns"],
        django_app_database_url=moto["database_url"],
        # moto accepts any credentials; on EC2 the instance role provides real ones.
        django_app_extra_env=moto_host.DUMMY_CREDENTIALS,
    )
    yield result
    back = scenario_playbook("deploy-app.yml")
    assert back.returncode == 0, back.stdout[-4000:]
    assert readyz(app_host)[0] == "200"


def test_aws_mode_deploy_succeeds(aws_deploy):
    assert aws_deploy.returncode == 0, aws_deploy.stdout[-4000:]


def test_app_is_ready_with_secrets_from_secrets_manager(app_host, aws_deploy):
    status, body = readyz(app_host)
    assert status == "200", body
    app_env = app_host.file("/etc/django-app/app.env").content_string
    assert 'DJANGO_SECRETS_BACKEND="aws"' in app_env
    assert f'AWS_ENDPOINT_URL="{MOTO_URL}"' in app_env
    for name in (*SECRET_NAMES, "DATABASE_CREDENTIALS"):
        assert f'DJANGO_SECRET_ARNS_{name}="arn:aws:secretsmanager:{REGION}:' in app_env


def test_aws_mode_migrations_log_in_as_the_owner_from_migrate_env_not_the_apps_secret(app_host, aws_deploy):
    """On AWS the hosts' role cannot read the owner's secret: migrate's login comes from the root-only
    migrate.env (DJANGO_DATABASE_CREDENTIALS_SOURCE=url), the app's from its Secrets Manager secret."""
    assert (
        "DJANGO_DATABASE_CREDENTIALS_SOURCE=url"
        in app_host.file("/etc/django-app/migrate.env").content_string
    )
    assert database_login(app_host, migrate_env=True) == "soc2kit_owner"
    assert database_login(app_host, migrate_env=False) == "soc2kit_app"


def test_aws_mode_units_read_no_secrets_file(app_host, aws_deploy):
    for unit in ("django-app.service", "django-app-candidate@.service"):
        assert "secrets.env" not in app_host.file(f"/etc/systemd/system/{unit}").content_string


def test_no_secret_value_on_disk_in_the_process_environment_or_the_ansible_output(app_host, aws_deploy):
    # Compared on the host (grep -F -f NEEDLES), so the values never reach this test or its output.
    pid = app_host.check_output("systemctl show -p MainPID --value django-app.service")
    put_text(app_host, "/run/soc2kit-deploy-output.txt", aws_deploy.stdout)
    app_host.run_test(f"tr '\\0' '\\n' < /proc/{pid}/environ > /run/soc2kit-app-environ.txt")
    put_text(app_host, "/run/soc2kit-needles.py", WRITE_NEEDLES)
    try:
        app_host.run_test(
            f"umask 077; python3 /run/soc2kit-needles.py {' '.join(SECRET_NAMES)} > /run/soc2kit-needles"
        )
        assert int(app_host.check_output("wc -l < /run/soc2kit-needles")) >= len(SECRET_NAMES)
        for where in (
            "/etc/django-app/app.env",
            "/run/soc2kit-deploy-output.txt",
            "/run/soc2kit-app-environ.txt",
        ):
            assert app_host.run(f"grep -qF -f /run/soc2kit-needles {where}").rc == 1, (
                f"a secret value in {where}"
            )
    finally:
        app_host.run(
            "rm -f /run/soc2kit-deploy-output.txt /run/soc2kit-app-environ.txt /run/soc2kit-needles*"
        )
    names = app_host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ | cut -d= -f1").split()
    assert not set(SECRET_NAMES) & set(names)
