"""The postgresql role's rds mode, run from localhost against a throw-away PostgreSQL on 127.0.0.1.

The cluster (scripts/test-postgres.sh, port TEST_PG_PORT_RDS or 55433) gets TLS from a CA made here
and accepts TLS connections only, so the role's sslmode=verify-full connection is the real one, with
this CA standing in for Amazon's RDS bundle. Its "master" is what RDS gives you: a login with CREATEDB
and CREATEROLE that is no superuser. Secrets Manager is a moto server on 127.0.0.1 holding the master,
owner and app credentials; the role reads them with amazon.aws's lookup as it does on AWS. The
inventory uses ansible/inventories/aws_shared/app_hosts.yml itself, with the stack outputs it needs.
Nothing leaves the machine: fake AWS credentials, no instance-metadata lookups.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fake_aws
import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
PORT = int(os.environ.get("TEST_PG_PORT_RDS", "55433"))
DATA = Path(tempfile.gettempdir()) / f"soc2kit-test-pg-rds-{PORT}"
REGION = "eu-west-1"
SCHEMA = "soc2kit"
AUDIT_TABLE = "audit_auditevent"
RECAP = re.compile(r"^localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)

# The AWS-only play of ansible/site.yml, alone.
PLAYBOOK = """
- name: App hosts | RDS CA bundle and the app's PostgreSQL roles on RDS (AWS only)
  hosts: app_hosts
  gather_facts: true  # as in site.yml, where the preflight play gathered them
  tasks:
    - name: PostgreSQL roles on RDS
      ansible.builtin.include_role:
        name: postgresql
      when: postgresql_mode | default('') == 'rds'
"""

# ansible/site.yml's step after the app's migrations (the append-only guard once more), alone.
AFTER_MIGRATE_PLAYBOOK = """
- name: App hosts | after the Django app's migrations
  hosts: app_hosts
  gather_facts: false
  tasks:
    - name: Append-only guard after the migrations (AWS only)
      ansible.builtin.include_role:
        name: postgresql
        tasks_from: rds_after_migrate
      when: postgresql_mode | default('') == 'rds'
"""


def _password() -> str:
    return secrets.token_urlsafe(30)


def _cert(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None, ca_key: Any, ca: bool
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(ca_key, hashes.SHA256())


def make_ca(directory: Path, name: str) -> tuple[Path, x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert(name, key, None, key, ca=True)
    path = directory / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, cert, key


@dataclass
class Cluster:
    """The throw-away server: its superuser's URL (set-up and checks only) and the CA that signs it."""

    admin_url: str
    ca_file: Path
    other_ca_file: Path

    def connect(self, user: str, password: str, dbname: str, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host="localhost",
            port=PORT,
            user=user,
            password=password,
            dbname=dbname,
            sslmode="verify-full",
            sslrootcert=str(self.ca_file),
            connect_timeout=10,
            **kwargs,
        )

    def admin(self, sql: str, dbname: str = "postgres") -> list[tuple[Any, ...]]:
        with psycopg.connect(
            self.admin_url.rsplit("/", 1)[0] + f"/{dbname}",
            sslmode="verify-full",
            sslrootcert=str(self.ca_file),
            host="localhost",
            autocommit=True,
        ) as conn:
            cursor = conn.execute(sql)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if shutil.which("runuser") is None and os.geteuid() == 0:
        pytest.skip("runuser missing")
    env = {**os.environ, "TEST_PG_PORT": str(PORT), "TEST_PG_DATA": str(DATA)}
    script = ROOT / "scripts" / "test-postgres.sh"
    subprocess.run([str(script), "stop"], env=env, check=False, capture_output=True)
    started = subprocess.run([str(script), "start"], env=env, capture_output=True, text=True, check=False)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        env_file = ROOT / ".cache" / f"test-postgres-{PORT}.env"
        admin_url = env_file.read_text().split("TEST_DATABASE_URL=", 1)[1].strip()
        work = tmp_path_factory.mktemp("pki")
        ca_file, ca_cert, ca_key = make_ca(work, "test-rds-ca")
        other_ca_file, _, _ = make_ca(work, "unrelated-ca")
        server_key = ec.generate_private_key(ec.SECP256R1())
        server_cert = _cert("localhost", server_key, ca_cert, ca_key, ca=False)
        (DATA / "server.crt").write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
        (DATA / "server.key").write_bytes(
            server_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        (DATA / "server.key").chmod(0o600)
        # TLS only over TCP (RDS's rds.force_ssl); the superuser also on the cluster's own socket.
        (DATA / "pg_hba.conf").write_text(
            "local all kit_admin scram-sha-256\n"
            "hostssl all all 127.0.0.1/32 scram-sha-256\n"
            "hostssl all all ::1/128 scram-sha-256\n"
        )
        if os.geteuid() == 0:
            shutil.chown(DATA / "server.crt", "postgres", "postgres")
            shutil.chown(DATA / "server.key", "postgres", "postgres")
            shutil.chown(DATA / "pg_hba.conf", "postgres", "postgres")
        with psycopg.connect(admin_url, host=str(DATA), dbname="postgres", autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET ssl = on")
            conn.execute("ALTER SYSTEM SET log_statement = 'ddl'")
            conn.execute("SELECT pg_reload_conf()")
        yield Cluster(admin_url=admin_url, ca_file=ca_file, other_ca_file=other_ca_file)
    finally:
        subprocess.run([str(script), "stop"], env=env, check=False, capture_output=True)


@pytest.fixture(scope="session")
def secrets_manager() -> Iterator[str]:
    with fake_aws.moto_server() as endpoint_url:
        yield endpoint_url


@dataclass
class Stack:
    """One 'RDS instance' in the cluster: its database, master, owner and app logins and their secrets."""

    cluster: Cluster
    endpoint_url: str
    work: Path
    database: str
    master: tuple[str, str]
    owner: tuple[str, str]
    app: tuple[str, str]
    arns: dict[str, str] = field(default_factory=dict)

    def put_secret(self, key: str, username: str, password: str) -> None:
        client = fake_aws.secretsmanager(self.endpoint_url, REGION)
        value = json.dumps({"username": username, "password": password})
        name = f"soc2kit/test/{self.database}/{key}"
        if key in self.arns:
            client.put_secret_value(SecretId=self.arns[key], SecretString=value)
        else:
            self.arns[key] = client.create_secret(Name=name, SecretString=value)["ARN"]

    def inventory(self) -> Path:
        """An inventory like ansible/inventories/<ENV>/: the stack outputs and the AWS group_vars."""
        directory = self.work / "inventory"
        (directory / "group_vars" / "app_hosts").mkdir(parents=True, exist_ok=True)
        link = directory / "group_vars" / "app_hosts" / "aws.yml"
        if not link.exists():
            link.symlink_to(ROOT / "ansible" / "inventories" / "aws_shared" / "app_hosts.yml")
        outputs = {
            "soc2kit_aws_region": REGION,
            "soc2kit_db_endpoint": "localhost",
            "soc2kit_db_port": PORT,
            "soc2kit_db_name": self.database,
            "soc2kit_db_app_username": self.app[0],
            "soc2kit_db_owner_username": self.owner[0],
            "soc2kit_db_admin_secret_arn": self.arns["admin"],
            "soc2kit_secret_arns": {
                "db_app_credentials": self.arns["app"],
                "db_owner_credentials": self.arns["owner"],
            },
        }
        hosts = {
            "app_hosts": {
                "hosts": {
                    "localhost": {
                        "ansible_connection": "local",
                        "ansible_python_interpreter": str(VENV_BIN / "python"),
                    }
                },
                "vars": outputs,
            }
        }
        (directory / "hosts.yml").write_text(json.dumps(hosts))
        return directory

    def play(self, text: str = PLAYBOOK, **overrides: Any) -> subprocess.CompletedProcess[str]:
        """ansible-playbook of the AWS-only play (or `text`); only host-side paths and test-machine
        settings differ."""
        playbook = self.work / "rds.yml"
        playbook.write_text(text)
        extra = {
            # The host side on this machine: the stand-in CA, a CA path under the test's directory,
            # the driver of the virtual environment, no Debian packages, no sudo.
            "postgresql_tls_ca_src": str(self.cluster.ca_file),
            "postgresql_client_ca_path": str(self.work / "host" / "rds-ca.pem"),
            "postgresql_client_tools": False,
            "postgresql_rds_driver_package": "",
            "ansible_become": False,
            **overrides,
        }
        (self.work / "extra.json").write_text(json.dumps(extra))
        env = {
            key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "ANSIBLE_", "PG"))
        }
        env |= {
            "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCAL_TEMP": str(self.work / "ansible-tmp"),
            **fake_aws.aws_env(self.endpoint_url),
        }
        return subprocess.run(
            [
                str(VENV_BIN / "ansible-playbook"),
                "-i",
                str(self.inventory()),
                str(playbook),
                "-e",
                f"@{self.work / 'extra.json'}",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )

    def connect(self, who: str, **kwargs: Any) -> psycopg.Connection[Any]:
        user, password = getattr(self, who)
        return self.cluster.connect(user, password, self.database, **kwargs)


def recap(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    match = RECAP.search(result.stdout)
    assert match, result.stdout + result.stderr
    ok, changed, unreachable, failed = (int(group) for group in match.groups())
    return {"ok": ok, "changed": changed, "unreachable": unreachable, "failed": failed}


def make_stack(
    cluster: Cluster, endpoint_url: str, work: Path, database: str, *, superuser_master: bool = False
) -> Stack:
    """What RDS and the Pulumi stack leave behind: the master login, its database, the three secrets."""
    master = (f"{database}_master", _password())
    if superuser_master:
        cluster.admin(f"CREATE ROLE {master[0]} LOGIN SUPERUSER PASSWORD '{master[1]}'")
    else:
        cluster.admin(f"CREATE ROLE {master[0]} LOGIN CREATEDB CREATEROLE PASSWORD '{master[1]}'")
    cluster.admin(f"CREATE DATABASE {database} OWNER {master[0]}")
    stack = Stack(
        cluster=cluster,
        endpoint_url=endpoint_url,
        work=work,
        database=database,
        master=master,
        owner=(f"{database}_owner", _password()),
        app=(f"{database}_app", _password()),
    )
    stack.put_secret("admin", *stack.master)
    stack.put_secret("owner", *stack.owner)
    stack.put_secret("app", *stack.app)
    return stack


def migrate(stack: Stack) -> None:
    """What `manage.py migrate` does as the owner: an app table and the audit table, with sequences."""
    with stack.connect("owner", autocommit=True) as conn:
        conn.execute("CREATE TABLE widget (id bigserial PRIMARY KEY, name text NOT NULL)")
        conn.execute(f"CREATE TABLE {AUDIT_TABLE} (id bigserial PRIMARY KEY, event text NOT NULL)")
