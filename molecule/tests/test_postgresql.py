"""Controls of roles/postgresql: TLS required, scram-sha-256 only, least-privilege app role.

Runs against the scenario's `db_hosts` (server) and `app_hosts` (client, connects with
sslmode=verify-full). The roles' passwords are read from the controller's secrets directory
(SOC2KIT_SECRETS_DIR, default <project>/.cache/secrets/<scenario>), where the role keeps them.
"""

import os
import shlex
from pathlib import Path

import pytest

# The stand-ins of ENV=local (PostgreSQL or the RELP collector): the whole module needs these groups.
pytestmark = pytest.mark.groups("app_hosts", "db_hosts")

DATABASE = "soc2kit"
SCHEMA = "soc2kit"
APP_ROLE = "soc2kit_app"
OWNER_ROLE = "soc2kit_owner"
CLIENT_CA = "/etc/ssl/soc2kit/postgresql-ca.crt"
APPEND_ONLY_TABLE = "audit_auditevent"
PRIVILEGES = "ARRAY['SELECT','INSERT','UPDATE','DELETE','TRUNCATE']"


@pytest.fixture(scope="module")
def secrets_dir():
    default = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", ".")) / ".cache" / "secrets"
    path = Path(
        os.environ.get("SOC2KIT_SECRETS_DIR", default / os.environ.get("MOLECULE_SCENARIO_NAME", "default"))
    )
    assert path.is_dir(), f"secrets directory {path} missing (set SOC2KIT_SECRETS_DIR)"
    return path


@pytest.fixture(scope="module")
def app_password(secrets_dir):
    return (secrets_dir / "postgresql_app_password").read_text().split()[0]


@pytest.fixture(scope="module")
def server(db):
    """The server's DNS name (from its certificate) and address on the scenario network."""
    name = db.check_output(
        "openssl x509 -noout -subject -nameopt multiline -in /etc/postgresql/15/main/tls/server.crt"
    )
    common_name = name.split("commonName", 1)[1].split("=", 1)[1].strip()
    address = db.check_output("ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -n1")
    return common_name, address


def _sql(db, query):
    result = db.run(f"runuser -u postgres -- psql --no-psqlrc -qAtX -d {DATABASE} -c {shlex.quote(query)}")
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


def _connect(app_host, server, password, sslmode, query="SELECT 1", host_name=None, user=APP_ROLE):
    name, address = server
    dsn = (
        f"host={host_name or name} hostaddr={address} dbname={DATABASE} user={user} "
        f"sslmode={sslmode} sslrootcert={CLIENT_CA} connect_timeout=5"
    )
    env = f"PGPASSWORD={shlex.quote(password)} " if password is not None else ""
    return app_host.run(f"{env}psql --no-psqlrc -w -qAtX {shlex.quote(dsn)} -c {shlex.quote(query)}")


def test_server_tls_on_with_tls12_minimum(db):
    assert _sql(db, "SHOW ssl") == "on"
    assert _sql(db, "SHOW ssl_min_protocol_version") == "TLSv1.2"
    key = db.file("/etc/postgresql/15/main/tls/server.key")
    assert (key.user, key.mode) == ("postgres", 0o600)


def test_passwords_stored_as_scram_only(db):
    assert _sql(db, "SHOW password_encryption") == "scram-sha-256"
    verifiers = _sql(
        db,
        "SELECT rolname || ' ' || left(rolpassword, 14) FROM pg_authid "
        f"WHERE rolname IN ('{APP_ROLE}', '{OWNER_ROLE}')",
    )
    assert sorted(verifiers.splitlines()) == [f"{APP_ROLE} SCRAM-SHA-256$", f"{OWNER_ROLE} SCRAM-SHA-256$"]


def test_pg_hba_hostssl_scram_only_everything_else_rejected(db):
    rules = _sql(
        db,
        "SELECT type || ' ' || auth_method || ' ' || array_to_string(user_name, ',') "
        "FROM pg_hba_file_rules ORDER BY line_number",
    )
    lines = rules.splitlines()
    assert lines[0] == "local peer postgres"
    allowed = [line for line in lines[1:] if not line.endswith("reject all") and " reject " not in line]
    assert allowed, rules
    assert all(line.startswith("hostssl scram-sha-256 ") for line in allowed), rules
    assert lines[-1].startswith("host reject "), rules
    assert not {"trust", "md5", "password"} & {line.split()[1] for line in lines}, rules


def test_verify_full_from_app_host_with_scram(app_host, db, server, app_password):
    result = _connect(
        app_host,
        server,
        app_password,
        "verify-full",
        "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() in {"t|TLSv1.3", "t|TLSv1.2"}
    log = db.check_output(
        "grep -h 'connection authorized: user=%s' /var/log/postgresql/postgresql-15-main.log | tail -n1",
        APP_ROLE,
    )
    assert "SSL enabled" in log


def test_verify_full_refuses_wrong_server_name(app_host, server, app_password):
    result = _connect(app_host, server, app_password, "verify-full", host_name="not-the-db.soc2kit.test")
    assert result.rc != 0
    assert "does not match host name" in result.stderr


def test_non_tls_connection_refused(app_host, server, app_password):
    result = _connect(app_host, server, app_password, "disable")
    assert result.rc != 0
    assert "no encryption" in result.stderr


def test_no_password_and_wrong_password_refused(app_host, server):
    without = _connect(app_host, server, None, "verify-full")
    assert without.rc != 0
    assert "no password supplied" in without.stderr
    wrong = _connect(app_host, server, "not-the-password-0123456789", "verify-full")
    assert wrong.rc != 0
    assert "password authentication failed" in wrong.stderr


def test_other_roles_refused_even_with_tls(app_host, server, app_password):
    result = _connect(app_host, server, app_password, "verify-full", user="postgres")
    assert result.rc != 0
    assert "pg_hba.conf rejects connection" in result.stderr


def test_app_role_not_superuser_and_cannot_create_roles_or_databases(db):
    flags = _sql(
        db,
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls FROM pg_roles "
        f"WHERE rolname = '{APP_ROLE}'",
    )
    assert flags == "f|f|f|f|f"


def test_app_role_cannot_create_in_public_or_app_schema(app_host, server, app_password):
    for schema in ("public", SCHEMA):
        result = _connect(
            app_host, server, app_password, "verify-full", f"CREATE TABLE {schema}.soc2kit_probe (i int)"
        )
        assert result.rc != 0
        assert f"permission denied for schema {schema}" in result.stderr


def test_app_role_gets_dml_on_tables_the_owner_creates(db):
    probe = "soc2kit_probe_dml"
    out = _sql(
        db,
        f"BEGIN; SET LOCAL ROLE {OWNER_ROLE}; CREATE TABLE {SCHEMA}.{probe} (i int); "
        f"SELECT string_agg(p, ',' ORDER BY p) FROM unnest({PRIVILEGES}) p "
        f"WHERE has_table_privilege('{APP_ROLE}', '{SCHEMA}.{probe}', p); ROLLBACK;",
    )
    assert out == "DELETE,INSERT,SELECT,UPDATE"


def test_audit_table_append_only_for_app_role(db):
    """The event trigger revokes UPDATE/DELETE/TRUNCATE whether the table is created or re-granted."""
    exists = _sql(db, f"SELECT to_regclass('{SCHEMA}.{APPEND_ONLY_TABLE}') IS NOT NULL") == "t"
    setup = (
        f"GRANT UPDATE, DELETE, TRUNCATE ON {SCHEMA}.{APPEND_ONLY_TABLE} TO {APP_ROLE};"
        if exists
        else f"CREATE TABLE {SCHEMA}.{APPEND_ONLY_TABLE} (id bigint, event text);"
    )
    out = _sql(
        db,
        f"BEGIN; SET LOCAL ROLE {OWNER_ROLE}; {setup} "
        f"SELECT string_agg(p, ',' ORDER BY p) FROM unnest({PRIVILEGES}) p "
        f"WHERE has_table_privilege('{APP_ROLE}', '{SCHEMA}.{APPEND_ONLY_TABLE}', p); ROLLBACK;",
    )
    assert out == "INSERT,SELECT"


def test_connections_are_logged(db):
    assert _sql(db, "SHOW log_connections") == "on"
    assert _sql(db, "SHOW log_disconnections") == "on"
