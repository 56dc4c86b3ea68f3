"""One rollout batch size: site.yml, deploy-app.yml and rollback.yml read `deploy_serial` (what
`make deploy DEPLOY_SERIAL=...` sets), so a deploy, an app-only release and a rollback move hosts alike."""

from __future__ import annotations

import pytest
import yaml

from .conftest import ROOT

ONE_BATCH_SIZE = "{{ deploy_serial | default(['100%']) }}"


@pytest.mark.parametrize("playbook", ["site.yml", "deploy-app.yml", "rollback.yml"])
def test_every_app_host_rollout_reads_deploy_serial(playbook: str) -> None:
    plays = yaml.safe_load((ROOT / "ansible" / playbook).read_text(encoding="utf-8"))
    serials = [play["serial"] for play in plays if "serial" in play]
    assert serials == [ONE_BATCH_SIZE]
