"""The AIDE baseline refresh runs as root with a file name found on the host: the name must never be shell."""

import re
import subprocess
import time
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


def changed_files_script(tmp_path: Path) -> list[str]:
    """The refresh's look for changed files (its argv), on a tree under tmp_path instead of / and with a
    reference file of ours instead of AIDE's database."""
    tasks = yaml.safe_load(TASKS.read_text(encoding="utf-8"))
    task = next(t for t in tasks if t["name"].endswith("files changed since the baseline looked for"))
    script = task["vars"]["__script"]
    assert "find / -xdev" in script, script
    assert "/var/lib/aide/aide.db" in script, script
    return [
        "bash",
        "-c",
        script.replace("find / -xdev", f"find {tmp_path}/root -xdev").replace(
            "/var/lib/aide/aide.db", f"{tmp_path}/baseline"
        ),
        "aide-changed",
    ]


def test_short_lived_files_in_a_timeless_directory_change_nothing_but_its_contents_count(tmp_path):
    """certbot's lock in /etc/letsencrypt comes and goes on every run: the directory's own times must not make
    every re-deploy refresh the baseline (changed=1), while a file changed inside it still must."""
    lock_dir, skipped = tmp_path / "root/etc/letsencrypt", tmp_path / "root/var/log"
    lock_dir.mkdir(parents=True)
    skipped.mkdir(parents=True)
    (lock_dir / "cli.ini").write_text("server = x\n")
    time.sleep(0.05)
    (tmp_path / "baseline").write_text("")  # the baseline is made after the tree
    time.sleep(0.05)

    def changed(*extra: str) -> str:
        argv = [*changed_files_script(tmp_path), str(skipped), "--", *extra]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()

    (lock_dir / ".certbot.lock").write_text("")
    (lock_dir / ".certbot.lock").unlink()
    (skipped / "letsencrypt.log").write_text("a skipped path's contents never count\n")
    assert changed() == str(lock_dir), "without the setting, the lock's coming and going is a change"
    assert changed(str(lock_dir), f"{tmp_path}/root/srv/none") == ""
    (lock_dir / "cli.ini").write_text("server = y\n")
    assert changed(str(lock_dir)) == str(lock_dir / "cli.ini")
