"""The SCRAM verifier the databases step stores: RFC 7677's exchange checks out against it, and a
real PostgreSQL 15 accepts it as a password and authenticates with it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from components.postgres.host.scram_verifier import verifier

SCRIPT = Path(__file__).resolve().parents[2] / "components" / "postgres" / "host" / "scram_verifier.py"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def test_rfc7677_exchange_against_the_verifier() -> None:
    # RFC 7677 section 3: user "user", password "pencil".
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    v = verifier("pencil", 4096, salt)
    head, keys = v.split("$", 1)[1].split("$")
    assert head == "4096:W22ZaJ0SNY7soEsUEjb6gQ=="
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    auth = (f"n=user,r=rOprNGfwEbeRWgbNEkqO,r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
            f"c=biws,r={nonce}").encode()
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    client_key = bytes(a ^ b for a, b in zip(proof, hmac.new(stored_key, auth, "sha256").digest(), strict=True))
    assert hashlib.sha256(client_key).digest() == stored_key  # the server accepts the client's proof
    assert base64.b64encode(hmac.new(server_key, auth, "sha256").digest()).decode() == \
        "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="  # and proves itself to the client


def test_script_reads_the_password_from_stdin_only() -> None:
    p = subprocess.run(["python3", str(SCRIPT), "256"], input="pencil\n", capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("SCRAM-SHA-256$256:") and "pencil" not in p.stdout
    assert subprocess.run(["python3", str(SCRIPT), "x"], input="pencil", capture_output=True,
                          text=True, timeout=10).returncode == 2
    assert subprocess.run(["python3", str(SCRIPT), "256"], input="", capture_output=True,
                          text=True, timeout=10).returncode == 2


@pytest.mark.skipif(not (PG_BIN / "initdb").exists() or os.geteuid() != 0,
                    reason="needs postgresql-15 and root (to run it as the postgres user)")
def test_postgresql_authenticates_with_the_stored_verifier() -> None:
    with tempfile.TemporaryDirectory(prefix="platform-scram-", dir="/tmp") as d:
        _authenticate(Path(d))


def _authenticate(tmp_path: Path) -> None:
    # pytest's tmp_path sits under a 0700 directory the postgres user cannot enter.
    tmp_path.chmod(0o755)
    pg = pwd.getpwnam("postgres")
    data, sock = tmp_path / "data", tmp_path / "sock"
    sock.mkdir()
    shutil.chown(tmp_path, pg.pw_uid, pg.pw_gid)
    shutil.chown(sock, pg.pw_uid, pg.pw_gid)

    def as_pg(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True,
                              timeout=60, **kw)  # type: ignore[call-overload, no-any-return]

    init = as_pg(str(PG_BIN / "initdb"), "-D", str(data), "--auth-local=trust")
    assert init.returncode == 0, init.stderr
    (data / "pg_hba.conf").write_text("local all app scram-sha-256\nlocal all all trust\n")
    start = as_pg(str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-t", "30", "-l", str(tmp_path / "log"),
                  "-o", f"-c listen_addresses='' -c unix_socket_directories={sock} -c port=55432", "start")
    assert start.returncode == 0, start.stderr
    try:
        v = verifier("correct horse", 256, os.urandom(16))
        setup = as_pg("psql", "-h", str(sock), "-p", "55432", "-XAtq", "-v", "ON_ERROR_STOP=1", "-f", "-",
                      "postgres", input=f"CREATE ROLE app LOGIN PASSWORD '{v}';\n"
                      "SELECT split_part(split_part(rolpassword, '$', 2), ':', 1) FROM pg_authid "
                      "WHERE rolname = 'app';\n")
        assert setup.stdout.strip() == "256", setup.stderr

        def login(password: str) -> int:
            env = {**os.environ, "PGPASSWORD": password}
            return subprocess.run(["psql", "-h", str(sock), "-p", "55432", "-U", "app", "-XAtqc", "SELECT 1",
                                   "postgres"], env=env, capture_output=True, timeout=30).returncode

        t = time.monotonic()
        assert login("correct horse") == 0
        assert time.monotonic() - t < 10
        assert login("wrong horse") != 0
    finally:
        as_pg(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
