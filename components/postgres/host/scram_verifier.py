"""Print a PostgreSQL SCRAM-SHA-256 verifier for the password read from stdin.

Runs on the database VM (the databases step): `secret NAME | python3 scram_verifier.py ITERATIONS`.
PostgreSQL stores what `ALTER ROLE ... PASSWORD '<verifier>'` gives it as is, so the plain password
never reaches the server (nor its logs), and the iteration count is ours to choose: PostgreSQL 15
always uses 4096, which costs a libpq client about 8 ms of CPU per connection. The platform's
passwords are 32 random characters (~190 bits), for which key stretching adds nothing, so app
roles may use fewer (postgres.scramIterations) where their drivers accept it; RFC-strict clients
(Go's lib/pq) refuse fewer than 4096. See README.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import sys


def verifier(password: str, iterations: int, salt: bytes) -> str:
    """RFC 5802/7677 keys in PostgreSQL's format: SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(b: bytes) -> str:
        return base64.b64encode(b).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}"


def main() -> int:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit() or int(sys.argv[1]) < 1:
        print("usage: scram_verifier.py ITERATIONS <password", file=sys.stderr)
        return 2
    password = sys.stdin.read().rstrip("\n")
    if not password:
        print("scram_verifier.py: empty password on stdin", file=sys.stderr)
        return 2
    print(verifier(password, int(sys.argv[1]), os.urandom(16)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
