"""The first single-host deploy: certbot's HTTP-01 challenge reaches the host by the site's name, which
cannot point at the Elastic IP `pulumi up` has only just created. The deploy waits for DNS, bounded, and
says so (a fake resolver and clock: no network, no real waiting)."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from kit import KitError, aws
from kit import inventory as pulumi_inventory
from kit.preflight import Context

from .conftest import FIXTURES

EIP = "54.170.20.21"  # app_host_public_ips of the one-host fixture


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def answers(*results: set[str]) -> Any:
    """A resolver that gives these answers in turn (the last one from then on), recording the names."""
    asked: list[str] = []
    queue = list(results)

    def resolve(name: str) -> set[str]:
        asked.append(name)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ansible_dir = tmp_path / "ansible"
    folder = ansible_dir / "inventories" / "dev" / "group_vars" / "app_hosts"
    folder.mkdir(parents=True)
    (folder / "site.yml").write_text("soc2kit_public_hostnames: [app.acme-corp.io, www.acme-corp.io]\n")
    monkeypatch.setattr("kit.aws.context", lambda env: Context(env=env, environ={}, ansible_dir=ansible_dir))


def inventory(fixture: str, stack: str) -> dict[str, Any]:
    outputs = json.loads((FIXTURES / fixture).read_text())
    return dict(pulumi_inventory.build_inventory(outputs, stack))


def test_waits_until_the_name_resolves_to_the_elastic_ip_and_says_so(site: None) -> None:
    time, out = FakeTime(), io.StringIO()
    resolve = answers(set(), {"192.0.2.7"}, {EIP})
    aws.wait_for_dns(
        "dev", inventory("outputs-good-one-host-ssh.json", "dev"),
        resolve=resolve, sleep=time.sleep, clock=time.clock, timeout=600, poll=15, out=out,
    )  # fmt: skip
    assert resolve.asked == ["app.acme-corp.io"] * 3
    assert time.sleeps == [15, 15]
    said = out.getvalue()
    assert (
        f"DNS: waiting up to 10 min for app.acme-corp.io to resolve to {EIP}, the host's Elastic IP" in said
    )
    assert "Create or update its A record now." in said
    assert "app.acme-corp.io resolves to 192.0.2.7 so far" in said
    assert f"DNS: app.acme-corp.io resolves to {EIP}" in said


def test_gives_up_after_the_bound_naming_the_record_to_create(site: None) -> None:
    time = FakeTime()
    with pytest.raises(KitError) as raised:
        aws.wait_for_dns(
            "dev", inventory("outputs-good-one-host-ssh.json", "dev"),
            resolve=answers({"192.0.2.7"}), sleep=time.sleep, clock=time.clock, timeout=300, poll=15,
            out=io.StringIO(),
        )  # fmt: skip
    assert time.now == 300  # bounded: 20 polls of 15 s
    assert (
        f"app.acme-corp.io did not resolve to {EIP} (the host's Elastic IP) within 5 min" in raised.value.what
    )
    assert "(it resolves to 192.0.2.7)" in raised.value.what
    assert f"point an A record for app.acme-corp.io at {EIP}" in raised.value.fix
    assert "make deploy ENV=dev" in raised.value.fix


def test_no_wait_when_dns_is_already_right(site: None) -> None:
    time, out = FakeTime(), io.StringIO()
    aws.wait_for_dns(
        "dev", inventory("outputs-good-one-host-ssh.json", "dev"),
        resolve=answers({EIP, "2001:db8::1"}), sleep=time.sleep, clock=time.clock, out=out,
    )  # fmt: skip
    assert time.sleeps == []
    assert out.getvalue() == ""


def test_several_hosts_use_dns_01_and_never_wait(site: None) -> None:
    def must_not_resolve(name: str) -> set[str]:
        raise AssertionError("resolved a name for a multi-host stack")

    aws.wait_for_dns("prod", inventory("outputs-good-two-hosts-ssm.json", "prod"), resolve=must_not_resolve)


def test_the_real_resolver_treats_an_unknown_name_as_not_resolving(monkeypatch: pytest.MonkeyPatch) -> None:
    assert aws.resolve_ipv4("127.0.0.1") == {"127.0.0.1"}  # numeric: no lookup leaves the machine

    def nxdomain(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", nxdomain)
    assert aws.resolve_ipv4("app.acme-corp.io") == set()
