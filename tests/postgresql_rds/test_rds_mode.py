"""The postgresql role in rds mode: least-privilege roles made as a non-superuser master, over verify-full.

Each control of the README is one test; the deploy runs once per module (fixture `deployed`): the
role, then what a migration does as the owner, then the role twice more.
"""

from __future__ import annotations

import secrets
from typing import Any

import psycopg
import pytest
import yaml

from .conftest import (
    AFTER_MIGRATE_PLAYBOOK,
    AUDIT_TABLE,
    DATA,
    ROOT,
    SCHEMA,
    Cluster,
    Stack,
    make_stack,
    migrate,
    recap,
)


@pytest.fixture(scope="module")
def deployed(
    cluster: Cluster, secrets_manager: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Master with CREATEDB and CREATEROLE only, which cannot create event triggers here (unlike RDS's
    master): as in site.yml, the role runs, then the 'migration' makes the audit table, then the guard
    runs once more (rds_after_migrate), so that same deploy leaves the table append-only; two more role
    runs (the next deploys) must change nothing."""
    stack = make_stack(cluster, secrets_manager, tmp_path_factory.mktemp("rds"), "app")
    runs = []
    first = stack.play(postgresql_append_only_event_trigger=False)
    assert first.returncode == 0, first.stdout + first.stderr
    runs.append(recap(first))
    migrate(stack)
    after_migrate = stack.play(AFTER_MIGRATE_PLAYBOOK, postgresql_append_only_event_trigger=False)
    assert after_migrate.returncode == 0, after_migrate.stdout + after_migrate.stderr
    app_may_update = stack.cluster.admin(
        f"SELECT has_table_privilege('{stack.app[0]}', '{SCHEMA}.{AUDIT_TABLE}', 'UPDATE, DELETE, TRUNCATE')",
        dbname=stack.database,
    )[0][0]
    for _ in range(2):
        result = stack.play(postgresql_append_only_event_trigger=False)
        assert result.returncode == 0, result.stdout + result.stderr
        runs.append(recap(result))
    return {
        "stack": stack,
        "runs": runs,
        "after_migrate": recap(after_migrate),
        "app_may_update_after_migrate": app_may_update,
        "outputs": [first.stdout, after_migrate.stdout],
    }


def test_first_run_makes_the_roles(deployed: dict[str, Any]) -> None:
    assert deployed["runs"][0]["changed"] > 0


def test_audit_table_a_migration_made_is_append_only_when_that_deploy_ends(deployed: dict[str, Any]) -> None:
    assert deployed["after_migrate"]["changed"] == 1  # the revoke on the new audit table, nothing else
    assert deployed["app_may_update_after_migrate"] is False


def test_repeat_runs_change_nothing(deployed: dict[str, Any]) -> None:
    for later in deployed["runs"][1:]:
        assert later["changed"] == 0
        assert later["failed"] == 0


def test_role_attributes_least_privilege(deployed: dict[str, Any]) -> None:
    stack: Stack = deployed["stack"]
    rows = stack.cluster.admin(
        "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolreplication, rolbypassrls, "
        f"rolcanlogin FROM pg_roles WHERE rolname IN ('{stack.owner[0]}', '{stack.app[0]}') ORDER BY rolname"
    )
    assert rows == [
        (stack.app[0], False, False, False, False, False, False, True),  # NOINHERIT
        (stack.owner[0], False, False, False, True, False, False, True),
    ]


def test_owner_owns_database_and_schema(deployed: dict[str, Any]) -> None:
    stack: Stack = deployed["stack"]
    assert stack.cluster.admin(
        f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{stack.database}'"
    ) == [(stack.owner[0],)]
    assert stack.cluster.admin(
        f"SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = '{SCHEMA}'", stack.database
    ) == [(stack.owner[0],)]


@pytest.mark.parametrize("schema", ["public", SCHEMA])
def test_app_role_cannot_create_in_any_schema(deployed: dict[str, Any], schema: str) -> None:
    stack: Stack = deployed["stack"]
    with stack.connect("app") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f"CREATE TABLE {schema}.intruder (id int)")


def test_app_role_cannot_create_schemas(deployed: dict[str, Any]) -> None:
    stack: Stack = deployed["stack"]
    with stack.connect("app") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("CREATE SCHEMA intruder")


def test_app_role_reads_and_writes_tables_the_owner_created_later(deployed: dict[str, Any]) -> None:
    stack: Stack = deployed["stack"]
    with stack.connect("app") as conn:
        # search_path = the app schema, as for Django's unqualified names.
        conn.execute("INSERT INTO widget (name) VALUES ('a')")
        assert conn.execute("SELECT name FROM widget").fetchall() == [("a",)]
        conn.execute("UPDATE widget SET name = 'b'")
        conn.execute("DELETE FROM widget")


def test_app_role_appends_to_and_reads_the_audit_table(deployed: dict[str, Any]) -> None:
    stack: Stack = deployed["stack"]
    with stack.connect("app") as conn:
        conn.execute(f"INSERT INTO {AUDIT_TABLE} (event) VALUES ('login')")
        assert conn.execute(f"SELECT count(*) FROM {AUDIT_TABLE}").fetchone() == (1,)


@pytest.mark.parametrize(
    "statement",
    [f"UPDATE {AUDIT_TABLE} SET event = 'x'", f"DELETE FROM {AUDIT_TABLE}", f"TRUNCATE {AUDIT_TABLE}"],
)
def test_app_role_cannot_change_the_audit_table(deployed: dict[str, Any], statement: str) -> None:
    stack: Stack = deployed["stack"]
    with stack.connect("app") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)


def test_app_role_cannot_take_the_owners_rights(deployed: dict[str, Any]) -> None:
    stack: Stack = deployed["stack"]
    with stack.connect("app") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f"SET ROLE {stack.owner[0]}")


def test_other_roles_cannot_connect_to_the_app_database(deployed: dict[str, Any]) -> None:
    stack: Stack = deployed["stack"]
    password = secrets.token_urlsafe(24)
    stack.cluster.admin("DROP ROLE IF EXISTS stranger")
    stack.cluster.admin(f"CREATE ROLE stranger LOGIN PASSWORD '{password}'")
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        stack.cluster.connect("stranger", password, stack.database)


def test_no_password_in_the_server_log(deployed: dict[str, Any]) -> None:
    """log_statement=ddl (as on RDS) keeps CREATE/ALTER ROLE: only SCRAM verifiers may reach it."""
    stack: Stack = deployed["stack"]
    log = (DATA / "server.log").read_text()
    assert f'CREATE USER "{stack.app[0]}" WITH ENCRYPTED PASSWORD \'SCRAM-SHA-256$4096:' in log
    # (The master is made by the test, as RDS makes it; the role never sets its password.)
    for _, password in (stack.owner, stack.app):
        assert password not in log


def test_no_secret_in_the_playbook_output(deployed: dict[str, Any]) -> None:
    stack: Stack = deployed["stack"]
    for output in deployed["outputs"]:
        for _, password in (stack.owner, stack.app, stack.master):
            assert password not in output


def test_changed_app_password_is_set_again_and_works(deployed: dict[str, Any]) -> None:
    """RDS's master cannot read pg_authid: the role logs in with the secret's password to notice a change."""
    stack: Stack = deployed["stack"]
    new = ("rotated-" + stack.app[1])[:40]
    stack.put_secret("app", stack.app[0], new)
    stack.app = (stack.app[0], new)
    result = stack.play(postgresql_append_only_event_trigger=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert recap(result)["changed"] == 1
    with stack.connect("app") as conn:
        assert conn.execute("SELECT current_user").fetchone() == (stack.app[0],)
    again = stack.play(postgresql_append_only_event_trigger=False)
    assert recap(again)["changed"] == 0


def test_ca_that_did_not_sign_the_server_is_refused(deployed: dict[str, Any]) -> None:
    """verify-full is real: the same run with a CA bundle that did not sign the server fails to connect."""
    stack: Stack = deployed["stack"]
    result = stack.play(
        postgresql_append_only_event_trigger=False,
        postgresql_tls_ca_src=str(stack.cluster.other_ca_file),
        postgresql_client_ca_path=str(stack.work / "host" / "wrong-ca.pem"),
    )
    assert result.returncode != 0
    assert "certificate verify failed" in result.stdout
    # Put the right one back for the tests that follow.
    assert stack.play(postgresql_append_only_event_trigger=False).returncode == 0


def test_bad_secret_arn_is_named_before_any_change(deployed: dict[str, Any]) -> None:
    stack: Stack = deployed["stack"]
    result = stack.play(
        postgresql_append_only_event_trigger=False, postgresql_rds_app_secret_arn="soc2kit/app"
    )
    assert result.returncode != 0
    assert "postgresql_rds_app_secret_arn ('soc2kit/app')" in result.stdout
    assert "changed=0" in result.stdout


def test_secret_naming_another_role_is_refused(deployed: dict[str, Any]) -> None:
    stack: Stack = deployed["stack"]
    result = stack.play(postgresql_append_only_event_trigger=False, postgresql_app_role="someone_else")
    assert result.returncode != 0
    assert "its username must be someone_else (postgresql_app_role)" in result.stdout


def test_event_trigger_needs_more_than_createrole(deployed: dict[str, Any]) -> None:
    """With the default (event trigger on), a master that may not create event triggers stops the run."""
    stack: Stack = deployed["stack"]
    result = stack.play()
    assert result.returncode != 0
    assert "permission denied to create event trigger" in result.stdout


# --- with a master that may create event triggers (RDS allows it for its master user) ----------------


@pytest.fixture(scope="module")
def event_trigger_stack(
    cluster: Cluster, secrets_manager: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    stack = make_stack(
        cluster, secrets_manager, tmp_path_factory.mktemp("rds-et"), "app_et", superuser_master=True
    )
    first = stack.play()
    assert first.returncode == 0, first.stdout + first.stderr
    migrate(stack)
    second = stack.play()
    assert second.returncode == 0, second.stdout + second.stderr
    return {"stack": stack, "runs": [recap(first), recap(second)]}


def test_event_trigger_makes_a_later_audit_table_append_only_at_once(
    event_trigger_stack: dict[str, Any],
) -> None:
    # The second run had nothing to revoke: the event trigger did it when the migration made the table.
    assert event_trigger_stack["runs"][1]["changed"] == 0
    stack: Stack = event_trigger_stack["stack"]
    with stack.connect("app") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f"DELETE FROM {AUDIT_TABLE}")


def test_event_trigger_revokes_a_later_grant(event_trigger_stack: dict[str, Any]) -> None:
    stack: Stack = event_trigger_stack["stack"]
    with stack.connect("owner", autocommit=True) as conn:
        conn.execute(f"GRANT UPDATE, DELETE ON {AUDIT_TABLE} TO {stack.app[0]}")
    with stack.connect("app") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f"UPDATE {AUDIT_TABLE} SET event = 'x'")


# --- what real use sets ---------------------------------------------------------------------------


def test_aws_inventory_keeps_verify_full_and_the_event_trigger() -> None:
    """The test runs above override only host-side paths; the AWS settings keep the strict values."""
    defaults = yaml.safe_load((ROOT / "roles" / "postgresql" / "defaults" / "main.yml").read_text())
    aws = yaml.safe_load((ROOT / "ansible" / "inventories" / "aws_shared" / "app_hosts.yml").read_text())
    specs = yaml.safe_load((ROOT / "roles" / "postgresql" / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert defaults["postgresql_rds_ssl_mode"] == "verify-full"
    assert options["postgresql_rds_ssl_mode"]["choices"] == ["verify-full"]
    assert defaults["postgresql_append_only_event_trigger"] is True
    assert aws["postgresql_mode"] == "rds"
    for key in (
        "postgresql_rds_ssl_mode",
        "postgresql_append_only_event_trigger",
        "postgresql_rds_driver_package",
    ):
        assert key not in aws
    assert aws["django_app_db_ca_bundle"] == "{{ postgresql_client_ca_path }}"
    # migrate's owner login: read on the controller, not through an ARN the hosts' role would have to read
    # (rendered against moto in tests/deploy/test_app_secrets_contract.py).
    migrate_env = aws["django_app_migrate_env"]
    assert sorted(migrate_env) == ["DATABASE_URL", "DJANGO_DATABASE_CREDENTIALS_SOURCE"]
    assert migrate_env["DJANGO_DATABASE_CREDENTIALS_SOURCE"] == "url"
    assert "soc2kit_secret_arns.db_owner_credentials" in migrate_env["DATABASE_URL"]
    assert migrate_env["DATABASE_URL"].endswith("?sslmode=verify-full")


def test_connection_the_modules_get_is_verify_full_with_the_ca_bundle() -> None:
    rds_vars = yaml.safe_load((ROOT / "roles" / "postgresql" / "vars" / "main.yml").read_text())
    connection = rds_vars["__postgresql_rds_connection"]
    assert connection["ssl_mode"] == "{{ postgresql_rds_ssl_mode }}"
    assert connection["ca_cert"] == "{{ postgresql_client_ca_path }}"
    assert connection["login_host"] == "{{ postgresql_rds_host }}"
