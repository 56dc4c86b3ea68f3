"""What the django_app role writes to /etc/django-app/app.env for the alert destination (the template
rendered by Ansible with the role's defaults and vars)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess

from .conftest import ROOT, VENV_BIN

TEMPLATE = ROOT / "roles/django_app/templates/etc/django-app/app.env.j2"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:soc2kit-prod-security-alerts"


def app_env(**variables: object) -> dict[str, str]:
    result = subprocess.run(
        [
            str(VENV_BIN / "ansible"), "localhost", "-o", "-m", "ansible.builtin.debug",
            "-a", f"msg={{{{ lookup('ansible.builtin.template', '{TEMPLATE}') | to_json }}}}",
            "-e", f"@{ROOT / 'roles/django_app/defaults/main.yml'}",
            "-e", f"@{ROOT / 'roles/django_app/vars/main.yml'}",
            "-e", json.dumps(variables),
        ],
        capture_output=True, text=True, cwd=ROOT, check=False,
        env={**os.environ, "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_DEPRECATION_WARNINGS": "false"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    text = json.loads(json.loads(result.stdout.split(" => ", 1)[1])["msg"])
    return dict(shlex.split(line)[0].split("=", 1) for line in text.splitlines() if line and line[0] != "#")


def test_a_topic_selects_the_sns_alert_handler() -> None:
    written = app_env(
        django_app_alert_sns_topic_arn=TOPIC, django_app_admins=["Security contact:sec@acme.io"]
    )
    assert written["DJANGO_ALERT_SNS_TOPIC_ARN"] == TOPIC
    assert written["DJANGO_ALERT_HANDLER_CLASS"] == "soc2kit.observability.sns.SnsAlertHandler"
    assert written["DJANGO_ADMINS"] == "Security contact:sec@acme.io"


def test_no_topic_keeps_the_default_mail_handler() -> None:
    written = app_env()
    assert "DJANGO_ALERT_SNS_TOPIC_ARN" not in written
    assert "DJANGO_ALERT_HANDLER_CLASS" not in written
