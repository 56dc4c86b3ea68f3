"""Known secret values and the scrubber: nothing secret may reach the evidence folder.

The values come from the hosts' own secret sources (the app's secrets env file in `file` mode; the
Secrets Manager values named by DJANGO_SECRET_ARNS_* in `aws` mode). They stay in memory only. Each is
replaced by `[REDACTED:<NAME>]` in every text before it is written, and the written folder is then
scanned for every value: a hit stops the run with an error (and the folder is removed).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .. import KitError

# Shorter strings are too common to be told apart from ordinary output (and too weak to be secrets).
MIN_SECRET_LENGTH = 8
# A private key in any output is a secret whether or not its value is known.
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL)
# The private fields of `openssl pkey/rsa/ec -text` dumps (a test's output may show one): hex lines after
# the field name, possibly with the prefix pytest or Ansible puts before each output line.
_KEY_DUMP_FIELD = re.compile(
    r"(?m)^(.{0,40}?)(priv|privateExponent|prime1|prime2|exponent1|exponent2|coefficient):[ \t]*"
    r"(?:\\n|\n)(?:.{0,40}?[ \t]+[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2})*:?[ \t]*(?:\\n|\n|$))+"
)
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


class SecretLeakError(KitError):
    """A known secret value was found in what was (about to be) written."""


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile reads them (quotes removed, comments skipped)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _ENV_LINE.match(line)
        if not match:
            continue
        raw = match.group(2).strip()
        try:
            parts = shlex.split(raw, posix=True) if raw else [""]
        except ValueError:
            parts = [raw]
        values[match.group(1)] = parts[0] if len(parts) == 1 else raw
    return values


# Members of a JSON secret that say where a database is, not how to get in (RDS's and the kit's database
# secrets): redacted, `"engine": "postgres"` turned every "postgresql" of a report into a redaction mark.
_DESCRIPTIVE_MEMBERS = frozenset({"engine", "host", "port", "dbname", "dbInstanceIdentifier", "username"})


def _derived(value: str) -> Iterable[str]:
    """The value and the secret parts inside it: JSON members (but the descriptive ones), a URL's password,
    decoded base64."""
    yield value
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict | list):
        stack = [parsed]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack.extend(v for k, v in item.items() if k not in _DESCRIPTIVE_MEMBERS)
            elif isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, str):
                yield from _derived(item)
    if "://" in value:
        try:
            password = urlsplit(value).password
        except ValueError:
            password = None
        if password:
            yield password
            yield unquote(password)
    try:
        decoded = base64.b64decode(value, validate=True)
        yield decoded.hex()
    except (binascii.Error, ValueError):
        pass


def _redact_key_field(match: re.Match[str]) -> str:
    # Inside JSON-escaped text the line ends are the two characters \\n: keep them so the JSON stays valid.
    end = "\\n" if "\\n" in match.group(0) else "\n"
    return f"{match.group(1)}{match.group(2)}: [REDACTED:private key]{end}"


class Scrubber:
    """Replaces every known secret value (and its derived forms) by a named marker."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        found: dict[str, str] = {}
        for name, value in secrets.items():
            for candidate in _derived(str(value)):
                if len(candidate) >= MIN_SECRET_LENGTH and candidate not in found:
                    found[candidate] = name
        # Longest first, so a value that contains another is replaced whole.
        self._values = sorted(found.items(), key=lambda item: -len(item[0]))

    def __len__(self) -> int:
        return len(self._values)

    def scrub(self, text: str) -> str:
        text = _PRIVATE_KEY.sub("[REDACTED:private key]", text)
        text = _KEY_DUMP_FIELD.sub(_redact_key_field, text)
        for value, name in self._values:
            if value in text:
                text = text.replace(value, f"[REDACTED:{name}]")
        return text

    def leaks(self, text: str) -> list[str]:
        """Names of the secrets whose value appears in `text` (never the values)."""
        names = {name for value, name in self._values if value in text}
        if _PRIVATE_KEY.search(text) or _KEY_DUMP_FIELD.search(text):
            names.add("a private key")
        return sorted(names)

    def assert_clean(self, where: str, text: str) -> None:
        names = self.leaks(text)
        if names:
            raise SecretLeakError(
                f"secret value(s) of {', '.join(names)} found in {where}; the report was not kept",
                "this is a bug in the report writer's scrubbing: report it; do not share the folder",
            )

    def scan_folder(self, folder: Path) -> None:
        """Reads back every written file and fails on any known secret value."""
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                self.assert_clean(str(path), path.read_bytes().decode("utf-8", errors="replace"))
