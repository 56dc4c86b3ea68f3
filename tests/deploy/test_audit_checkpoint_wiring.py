"""The stack's audit checkpoint bucket reaches the django_app role: Pulumi output -> inventory script ->
aws_shared group variables, rendered by Ansible itself."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from ansible_render import render

from .conftest import ROOT, VENV_BIN

EXPORTS = """
import json
from tests.harness import run_program, stack_config
print(json.dumps(run_program(stack_config("dev"), stack="dev").exports))
"""
RENDERED = (
    "{{ {'store': django_app_audit_checkpoint_store, "
    "'bucket': django_app_audit_checkpoint_s3_bucket} | to_json }}"
)


def _base_env() -> dict[str, str]:
    prefixes = ("AWS_", "PULUMI_", "KIT_", "DJANGO_")
    return {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}


def test_aws_inventory_gives_the_role_the_stacks_checkpoint_bucket(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(VENV_BIN / "python"), "-c", EXPORTS],
        cwd=ROOT / "pulumi",
        env=_base_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    exports = json.loads(result.stdout)
    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(json.dumps(exports))

    from kit.aws import ansible_env

    env = _base_env() | ansible_env("dev") | {"KIT_PULUMI_OUTPUTS_FILE": str(outputs_file)}
    rendered = render(ROOT / "ansible" / "inventories" / "dev", RENDERED, env)
    assert rendered == {"store": "s3", "bucket": exports["audit_checkpoint_bucket"]}
    assert rendered["bucket"].startswith("soc2kit-dev-audit-")
