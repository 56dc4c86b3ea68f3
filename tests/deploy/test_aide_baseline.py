"""The AIDE baseline refresh runs as root with a file name found on the host: the name must never be shell."""

import re
import subprocess
from pathlib import Path

import jinja2
import yaml
from ansible.plugins.filter.core import quote

ROOT = Path(__file__).resolve().parents[2]
TASKS = ROOT / "roles/hardening/tasks/aide_baseline.yml"


def shell_scripts() -> list[str]:
    tasks = yaml.safe_load(TASKS.read_text(encoding="utf-8"))
    scripts = [task["ansible.builtin.shell"] for task in tasks if "ansible.builtin.shell" in task]
    assert scripts, "no shell task in aide_baseline.yml"
    return scripts


def test_host_values_in_the_refresh_script_are_quoted():
    for script in shell_scripts():
        for expression in re.findall(r"\{\{(.*?)\}\}", script):
            assert re.search(r"\|\s*quote\s*$", expression), f"unquoted value in a root shell: {expression}"


def test_a_hostile_file_name_is_logged_as_text_and_runs_nothing(tmp_path):
    """The refresh's own lines that carry the changed path, rendered with a name an intruder chose."""
    hostile = f'/srv/x$(touch {tmp_path}/pwned)`touch {tmp_path}/pwned2`"y'
    lines = [
        line
        for line in shell_scripts()[-1].splitlines()
        if "__hardening_aide_newer" in line or "first_change" in line
    ]
    script = "\n".join(lines).replace("logger -p authpriv.notice -t soc2kit-aide", "echo")
    environment = jinja2.Environment(autoescape=False)  # noqa: S701 - renders a shell script, not HTML
    environment.filters["quote"] = quote
    rendered = environment.from_string(script).render(__hardening_aide_newer={"stdout": hostile})
    out = subprocess.run(["bash", "-c", rendered], capture_output=True, text=True, check=True).stdout
    assert f"first change: {hostile};" in out
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "pwned2").exists()
