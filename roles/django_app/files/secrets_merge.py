"""Prints, as JSON, the generated secrets of the app's env file: values already in the file are kept,
missing ones are generated here on the host (never on the controller). Regenerating an existing key
would make the data encrypted with it unreadable, so an existing value always wins.

Usage: secrets_merge.py ENV_FILE NAME=KIND [NAME=KIND ...]
"""

import base64
import json
import secrets
import sys
from pathlib import Path


def _generate(kind: str) -> str:
    if kind == "django_secret_key":
        return secrets.token_urlsafe(50)
    if kind == "base64_32":
        return base64.b64encode(secrets.token_bytes(32)).decode()
    if kind == "local_keks":
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        return json.dumps({"active": "k1", "keys": {"k1": key}}, separators=(",", ":"))
    raise SystemExit(f"unknown secret kind {kind!r}")


def _unquote(value: str) -> str:
    """Reverses the quoting of the role's env file template: "..." with backslash escapes."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        out, chars = [], iter(value[1:-1])
        for char in chars:
            out.append(next(chars, "") if char == "\\" else char)
        return "".join(out)
    return value


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        values[name.strip()] = _unquote(value.strip())
    return values


def main(argv: list[str]) -> None:
    existing = read_env_file(Path(argv[1]))
    wanted = dict(arg.split("=", 1) for arg in argv[2:])
    merged = {name: existing.get(name) or _generate(kind) for name, kind in wanted.items()}
    json.dump({"secrets": merged, "generated": sorted(set(merged) - set(existing))}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv)
