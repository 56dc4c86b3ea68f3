"""site.yml runs the service hosts' roles side by side (free strategy), and Ansible ignores any_errors_fatal
and max_fail_percentage under that strategy. The gate play after it must stop the run when any host failed or
could not be reached, before an app host changes. These tests run site.yml's own free play (its hosts and
strategy, with stand-in tasks), its own gate play and its own app-host play (stand-in tasks) on local hosts.
"""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, VENV_BIN

APP_PLAY_MARKER = "app host play ran on"

# The groups of ENV=local and molecule, two app hosts as in the rehearsal.
INVENTORY = {
    "all": {
        "vars": {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        },
        "children": {
            "app_hosts": {"hosts": {"app1": {}, "app2": {}}},
            "acme_servers": {"hosts": {"acme": {}}},
            "db_hosts": {"hosts": {"db": {}}},
            "log_collectors": {"hosts": {"logs": {}}},
        },
    }
}

# Every host of the free play: fails when it is `fail_host`; the others are slower than the failure, so the
# run is still inside the free play when it happens.
FREE_PLAY_TASKS = [
    {
        "name": "stand-in role fails on fail_host",
        "ansible.builtin.fail": {"msg": "stand-in failure"},
        "when": "inventory_hostname == fail_host | default('')",
    },
    {"name": "stand-in role work", "ansible.builtin.command": "sleep 1", "changed_when": False},
]


def site_plays() -> list[dict]:
    return yaml.safe_load((ROOT / "ansible" / "site.yml").read_text(encoding="utf-8"))


def free_play(plays: list[dict]) -> dict:
    (play,) = [play for play in plays if play.get("strategy") == "ansible.builtin.free"]
    return play


def gate_play(plays: list[dict]) -> dict:
    return plays[plays.index(free_play(plays)) + 1]


def app_play(plays: list[dict]) -> dict:
    (play,) = [play for play in plays if "serial" in play]
    return play


def run_site_skeleton(
    tmp_path: Path, *extra: str, unreachable: str | None = None
) -> subprocess.CompletedProcess:
    plays = site_plays()
    marker = {"ansible.builtin.debug": {"msg": APP_PLAY_MARKER + " {{ inventory_hostname }}"}}
    playbook = [
        {**free_play(plays), "tasks": FREE_PLAY_TASKS},
        gate_play(plays),
        {**app_play(plays), "tasks": [marker]},
    ]
    inventory = copy.deepcopy(INVENTORY)
    if unreachable:  # nothing listens on the discard port of loopback: ssh is refused at once
        group = next(g for g in inventory["all"]["children"].values() if unreachable in g["hosts"])
        group["hosts"][unreachable] = {
            "ansible_connection": "ssh",
            "ansible_host": "127.0.0.1",
            "ansible_port": 9,
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        }
    (tmp_path / "site.yml").write_text(yaml.safe_dump(playbook, sort_keys=False))
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    # An empty configuration: none of ansible/ansible.cfg's or the user's settings (callbacks, plugins) apply.
    (tmp_path / "ansible.cfg").write_text("")
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "local-tmp"),
        "ANSIBLE_NOCOLOR": "1",
    }
    playbook_command = [str(VENV_BIN / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml")]
    return subprocess.run(
        [*playbook_command, str(tmp_path / "site.yml"), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_the_service_hosts_play_and_its_gate_cover_the_same_hosts() -> None:
    plays = site_plays()
    gate = gate_play(plays)
    assert gate["hosts"] == free_play(plays)["hosts"]
    assert gate["any_errors_fatal"] is True
    assert plays.index(gate) < plays.index(app_play(plays))


def test_all_hosts_succeed_and_the_app_hosts_play_runs(tmp_path: Path) -> None:
    done = run_site_skeleton(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{APP_PLAY_MARKER} app1" in done.stdout
    assert f"{APP_PLAY_MARKER} app2" in done.stdout


@pytest.mark.parametrize("failing", ["db", "acme", "logs", "app2"])
def test_one_failed_host_stops_the_run_before_the_app_hosts_play(tmp_path: Path, failing: str) -> None:
    done = run_site_skeleton(tmp_path, "-e", f"fail_host={failing}")
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert APP_PLAY_MARKER not in done.stdout, output
    assert f"{failing} failed or could not be reached" in output


def test_an_unreachable_host_stops_the_run_before_the_app_hosts_play(tmp_path: Path) -> None:
    done = run_site_skeleton(tmp_path, unreachable="logs")
    output = done.stdout + done.stderr
    assert "UNREACHABLE" in output
    assert done.returncode != 0
    assert APP_PLAY_MARKER not in done.stdout, output
    assert "logs failed or could not be reached" in output


def test_hosts_left_out_by_limit_do_not_trip_the_gate(tmp_path: Path) -> None:
    # logs would fail, but --limit leaves it out of this run: the gate must not count it as failed.
    done = run_site_skeleton(tmp_path, "-e", "fail_host=logs", "--limit", "app1,db")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{APP_PLAY_MARKER} app1" in done.stdout
    assert f"{APP_PLAY_MARKER} app2" not in done.stdout
