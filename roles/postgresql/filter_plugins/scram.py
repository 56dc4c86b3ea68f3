"""SCRAM-SHA-256 verifiers, so a role's password reaches PostgreSQL only as the hash it stores.

`CREATE/ALTER ROLE ... PASSWORD '<plain text>'` would put the password into the server's statement
log (RDS logs DDL: log_statement=ddl); a verifier in that place is what pg_authid holds anyway.
The salt is derived from the password and the role name, so the same password gives the same
verifier: server mode compares it with pg_authid and changes nothing when it matches.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

# PostgreSQL's default scram_iterations.
ITERATIONS = 4096


def postgresql_scram_verifier(password: Any, role: Any) -> str:
    """SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, as PostgreSQL stores it."""
    secret = str(password).encode("utf-8")
    if not str(password).isascii():
        # PostgreSQL applies SASLprep to non-ASCII passwords; the kit's generated ones are ASCII.
        raise ValueError("postgresql_scram_verifier: only ASCII passwords are supported")
    salt = hmac.new(secret, b"soc2kit-scram-salt:" + str(role).encode("utf-8"), hashlib.sha256).digest()[:16]
    salted = hashlib.pbkdf2_hmac("sha256", secret, salt, ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return f"SCRAM-SHA-256${ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"postgresql_scram_verifier": postgresql_scram_verifier}
