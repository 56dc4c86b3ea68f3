"""One live-check runner: every check of a running deployment leaves the disruptive tests out, and the
suite, collected against the recorded prod inventory, holds no name of the local stacks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kit import KitError, aws, livecheck, local
from kit.verify import suite
from kit.verify.context import Context, Site
from kit.verify.hosts import Completed
from kit.verify.thresholds import DEFAULT_FILE, load

from .conftest import FIXTURES, ROOT, VENV_BIN

# Names that exist only on the local stacks (molecule, ENV=local): the local site's domain, the ACME
# container's URLs, pebble's issuer.
LOCAL_NAMES = re.compile(r"soc2kit\.test|//acme[:/]|acme:1[45]000|Pebble Intermediate")


def marker_expression(command: list[str], env: dict[str, str]) -> str:
    """The -m expression pytest gets, whether on the command line or through PYTEST_ADDOPTS."""
    import shlex

    words = shlex.split(env.get("PYTEST_ADDOPTS", "")) + command
    expressions = [words[i + 1] for i, word in enumerate(words[:-1]) if word == "-m"]
    assert expressions, f"no -m in {command} / {env}"
    return expressions[-1]  # pytest keeps the last one


def test_inventory_check_leaves_disruptive_tests_out() -> None:
    check = livecheck.live_check(inventory=Path("/inv"))
    assert marker_expression(check.command, check.env) == "not disruptive"
    assert "--ansible-inventory=/inv" in check.command


def test_scenario_check_leaves_disruptive_tests_out(tmp_path: Path) -> None:
    check = livecheck.live_check(scenario="default", junit=tmp_path / "j.xml")
    assert check.command == ["molecule", "verify", "-s", "default"]
    assert marker_expression(check.command, check.env) == "not disruptive"
    assert f"--junitxml={tmp_path / 'j.xml'}" in check.env["PYTEST_ADDOPTS"]


def test_callers_pytest_addopts_cannot_add_the_disruptive_tests() -> None:
    check = livecheck.live_check(inventory=Path("/inv"))
    env = {"PYTEST_ADDOPTS": "-m disruptive", **check.env}
    assert marker_expression(check.command, env) == "not disruptive"


def test_exactly_one_target_is_required() -> None:
    with pytest.raises(KitError, match="exactly one"):
        livecheck.live_check()
    with pytest.raises(KitError, match="exactly one"):
        livecheck.live_check(inventory=Path("/inv"), scenario="default")


def _recorded_runs(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[tuple[list[str], dict]]:
    calls: list[tuple[list[str], dict]] = []

    def record(command: list[str], **kwargs: Any) -> Any:
        calls.append((list(command), dict(kwargs.get("env") or {})))
        return Completed("controller", 0, "", "") if name == "run_local" else ""

    monkeypatch.setattr(module, name, record)
    return calls


def test_make_deploy_on_aws_checks_without_disruptive_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _recorded_runs(monkeypatch, aws, "run")
    monkeypatch.setattr(aws, "public_hostname", lambda env: "prod.example.com")
    monkeypatch.setattr(aws, "smoke_test", lambda *args, **kwargs: None)
    aws.verify("prod")
    [(command, env)] = calls
    assert command[0] == "pytest"
    assert marker_expression(command, env) == "not disruptive"


def test_make_deploy_local_checks_without_disruptive_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _recorded_runs(monkeypatch, local, "run")
    monkeypatch.setattr(local, "smoke_test", lambda *args, **kwargs: None)
    monkeypatch.setattr(local, "site_ca_file", lambda scenario: Path("/ca.pem"))
    local.verify(local.scenario_for("nginx"))
    [(command, env)] = calls
    assert command[:2] == ["molecule", "verify"]
    assert marker_expression(command, env) == "not disruptive"


@pytest.mark.parametrize("env", ["local", "prod"])
def test_make_verify_checks_without_disruptive_tests(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: str
) -> None:
    calls = _recorded_runs(monkeypatch, suite, "run_local")
    site = Site("example.org")
    ctx = Context(env, "nginx", site, None, load(DEFAULT_FILE), tmp_path, inventory=Path("/inv"))  # type: ignore[arg-type]
    suite.testinfra(ctx)
    [(command, run_env)] = calls
    assert marker_expression(command, run_env) == "not disruptive"


CLEARED_PREFIXES = ("AWS_", "KIT_", "MOLECULE_", "SOC2KIT_")


def collect(inventory: Path, home: Path, extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The live check's own command, collect-only (nothing connects to a host), against `inventory`."""
    check = livecheck.live_check(inventory=inventory)
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED_PREFIXES)}
    env.update(check.env)
    env.update(extra_env)
    env.update(
        {"PATH": f"{VENV_BIN}:{os.environ['PATH']}", "HOME": str(home), "AWS_EC2_METADATA_DISABLED": "true"}
    )
    command = [str(VENV_BIN / "pytest"), *check.command[1:], "--collect-only", "-q"]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def prod_collection(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """Against prod's inventory, built from recorded stack outputs (two hosts, SSM)."""
    outputs = {"KIT_PULUMI_OUTPUTS_FILE": str(FIXTURES / "outputs-good-two-hosts-ssm.json")}
    return collect(
        aws.inventory_dir("prod"), tmp_path_factory.mktemp("home"), {**aws.ansible_env("prod"), **outputs}
    )


def collected_modules(output: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"^molecule/tests/(test_\w+\.py)::", output, re.MULTILINE)}


def test_prod_collection_reads_the_site_from_the_inventory(prod_collection: Any) -> None:
    assert prod_collection.returncode == 0, prod_collection.stdout[-3000:] + prod_collection.stderr[-3000:]
    header = prod_collection.stdout
    assert "site: prod.example.com via prod.example.com:443, web server nginx, database rds" in header
    assert "ACME https://acme-v02.api.letsencrypt.org/directory (issuer: Let's Encrypt)" in header


def test_prod_collection_has_only_what_applies_to_prod(prod_collection: Any) -> None:
    modules = collected_modules(prod_collection.stdout)
    assert {"test_nginx.py", "test_certbot.py", "test_hardening.py", "test_web_tls.py"} <= modules
    # No Apache tests on nginx hosts; nothing for groups prod does not have; no disruptive module.
    for absent in (
        "test_apache.py",
        "test_acme_server.py",
        "test_postgresql.py",
        "test_log_shipping.py",
        "test_log_shipping_outage.py",
        "test_role_arguments.py",
        "test_app_end_to_end.py",
    ):
        assert absent not in modules, absent
    assert "disruptive" not in prod_collection.stdout.replace("deselected", "")


def test_prod_collection_holds_no_local_name(prod_collection: Any) -> None:
    modules = collected_modules(prod_collection.stdout)
    assert modules
    sources = [ROOT / "molecule" / "tests" / name for name in (*modules, "conftest.py", "site_facts.py")]
    for source in sources:
        found = LOCAL_NAMES.findall(source.read_text(encoding="utf-8"))
        assert not found, f"{source.name} names the local stack: {sorted(set(found))}"
    assert not LOCAL_NAMES.search(prod_collection.stdout)


def test_collection_without_inventory_still_runs_the_role_argument_tests() -> None:
    """The role-argument tests run alone, without an inventory (scripts/molecule.sh)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOLECULE_", "SOC2KIT_"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "molecule/tests/test_role_arguments.py"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert "test_role_arguments.py::" in result.stdout


@pytest.mark.parametrize(("web_server", "absent"), [("nginx", "test_apache.py"), ("apache", "test_nginx.py")])
def test_local_collection_reads_the_local_site_and_its_web_server(
    tmp_path: Path, web_server: str, absent: str
) -> None:
    """The molecule scenarios' inventory (ansible/inventories/local): the local names come from it, and only
    the scenario's own web server is tested."""
    env = {"SOC2KIT_WEB_SERVER": web_server, "SOC2KIT_TEST_HTTPS_PORT": "9443", "MOLECULE_SCENARIO_NAME": "x"}
    result = collect(ROOT / "ansible" / "inventories" / "local" / "hosts.yml", tmp_path, env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (
        f"site: app.soc2kit.test via 127.0.0.1:9443, web server {web_server}, database client, "
        "ACME https://acme:14000/dir (issuer: Pebble Intermediate CA)"
    ) in result.stdout
    modules = collected_modules(result.stdout)
    assert {"test_acme_server.py", "test_postgresql.py", "test_log_shipping.py"} <= modules
    assert f"test_{web_server}.py" in modules
    assert absent not in modules
