"""`make deploy ENV=rehearsal` stands in for `pulumi up` with this program's outputs under mocks
(scripts/kit/rehearsal_stack.py). They must keep the shape of what `pulumi up` exports for prod, so the
rehearsal runs the inventory, group_vars and roles exactly as prod gets them."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from tests.harness import StackRun

# Imported by name: the kit (scripts/, on pytest.ini's pythonpath) is outside the type-checked tree.
rehearsal_stack = importlib.import_module("kit.rehearsal_stack")

ADDRESSES = rehearsal_stack.Addresses(
    app_hosts=["10.89.7.11", "10.89.7.12"], database="db.rehearsal.test", balancer="lb.rehearsal.test"
)


def shape(value: Any) -> Any:
    """The JSON shape of a value: keys of maps, lengths of lists, types of scalars."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


@pytest.fixture(scope="module")
def rehearsal() -> Any:
    return rehearsal_stack.run(ADDRESSES)


def test_rehearsal_outputs_have_the_shape_of_prods(rehearsal: Any, prod: StackRun) -> None:
    exported = json.loads(json.dumps(prod.exports))  # as `pulumi stack output --json` prints them
    assert shape(rehearsal.outputs) == shape(exported)


def test_rehearsal_outputs_point_at_the_local_stand_ins(rehearsal: Any) -> None:
    outputs = rehearsal.outputs
    assert outputs["app_host_private_ips"] == ADDRESSES.app_hosts
    assert outputs["db_endpoint"] == ADDRESSES.database
    assert outputs["nlb_dns_name"] == ADDRESSES.balancer
    assert outputs["environment"] == "prod"  # prod's config: its minimums and policy rules apply
    assert outputs["log_group_names"]["app"] == "/soc2kit/rehearsal/app"


def test_rehearsal_secrets_are_what_the_program_writes(rehearsal: Any) -> None:
    values = rehearsal.secret_values
    names = {
        purpose: arn.split(":secret:", 1)[1].rsplit("-", 1)[0]
        for purpose, arn in rehearsal.outputs["secret_arns"].items()
    }
    assert set(values) == set(names.values())
    app = json.loads(values[names["db_app_credentials"]])
    assert app["host"] == ADDRESSES.database
    assert app["username"] == rehearsal.outputs["db_app_username"]
    assert len(app["password"]) == 40
    assert len(values[names["django_secret_key"]]) == 64
    # Real random values, not the harness's recognisable "generated-" ones.
    assert not any("generated-" in value for value in values.values())
    assert rehearsal.master_username == "dbadmin"
