"""The stack's naming rules are one set (scripts/kit/stack_rules.py): the stack config, the Ansible inventory
and the policy pack refuse the same names, so a name one of them accepts cannot fail in another."""

from __future__ import annotations

import importlib
import json
from types import ModuleType

import pytest
import soc2_rules
from config import ConfigError
from kit.stack_rules import RESERVED_DB_USERNAMES

from tests.harness import StackRun
from tests.test_config import parse

# Imported by name: the kit (scripts/, on pytest.ini's pythonpath) is outside the type-checked tree.
inventory: ModuleType = importlib.import_module("kit.inventory")

BAD_APP_NAMES = ["ab-", "a--b", "-ab", "Ab", "a_b", "a", "1ab", "a" * 32]


def outputs_with(run: StackRun, **changes: str) -> dict[str, object]:
    outputs: dict[str, object] = json.loads(json.dumps(run.exports))
    outputs.update(changes)
    return outputs


@pytest.mark.parametrize("name", BAD_APP_NAMES)
def test_inventory_refuses_every_app_name_the_stack_config_refuses(name: str, dev: StackRun) -> None:
    with pytest.raises(ConfigError, match="soc2kit:app_name = "):
        parse(app_name=name)
    with pytest.raises(inventory.InventoryError, match="stack output 'app_name'"):
        inventory.build_inventory(outputs_with(dev, app_name=name), "dev")


@pytest.mark.parametrize("name", ["ab", "acme-shop", "a1-b2", "a" * 31])
def test_inventory_accepts_every_app_name_the_stack_config_accepts(name: str, dev: StackRun) -> None:
    assert parse(app_name=name).app_name == name
    built = inventory.build_inventory(outputs_with(dev, app_name=name), "dev")
    assert built["app_hosts"]["hosts"]


@pytest.mark.parametrize("name", sorted(RESERVED_DB_USERNAMES))
def test_policy_pack_refuses_every_database_admin_the_stack_config_refuses(name: str) -> None:
    with pytest.raises(ConfigError, match="soc2kit:db_admin_username = "):
        parse(db_admin_username=name)
    assert list(soc2_rules.rds_custom_admin({"username": name}))
