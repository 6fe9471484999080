"""The router's primary check run by the real HAProxy against loopback fakes of PgBouncer and of
Patroni's REST API (TLS, a test CA): the server is UP only while PgBouncer answers and Patroni's
GET /primary says 200 with role master - not while Patroni holds the leader key but PostgreSQL is
still a standby being promoted (200, role replica), and not on 503."""

from __future__ import annotations

import csv
import http.server
import io
import json
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from components.postgres.names import PATRONI_PORT, PGBOUNCER_PORT
from components.router import render
from tests.unit.helpers import settings

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None or shutil.which("openssl") is None,
                                reason="haproxy and openssl are required (apt-get install haproxy)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakePgBouncer(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        if self.request.recv(8):
            self.request.sendall(b"N")  # no GSSAPI encryption, as PgBouncer answers


class FakePatroni(http.server.BaseHTTPRequestHandler):
    answer: ClassVar[tuple[int, str]] = (200, "master")

    def do_GET(self) -> None:  # noqa: N802
        code, role = self.answer
        body = json.dumps({"state": "running", "role": role, "server_version": 150000}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _openssl(*args: str) -> None:
    cp = subprocess.run(["openssl", *args], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr


@pytest.fixture
def router(tmp_path: Path) -> Iterator[Any]:
    # A CA and db-1's certificate (HAProxy verifies the name db-1, as on the platform).
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
             "-keyout", str(tmp_path / "ca.key"), "-out", str(tmp_path / "ca.pem"), "-subj", "/CN=test-ca")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=db-1",
             "-keyout", str(tmp_path / "db.key"), "-out", str(tmp_path / "db.csr"))
    (tmp_path / "ext").write_text("subjectAltName=DNS:db-1,IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", str(tmp_path / "db.csr"), "-CA", str(tmp_path / "ca.pem"), "-CAkey",
             str(tmp_path / "ca.key"), "-CAcreateserial", "-days", "1", "-extfile", str(tmp_path / "ext"),
             "-out", str(tmp_path / "db.pem"))
    bouncer = socketserver.ThreadingTCPServer(("127.0.0.1", 0), FakePgBouncer)
    patroni = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakePatroni)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(tmp_path / "db.pem"), str(tmp_path / "db.key"))
    patroni.socket = ctx.wrap_socket(patroni.socket, server_side=True)
    for srv in (bouncer, patroni):
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    # The rendered primary listener, pointed at the fakes.
    cfg = render.render_haproxy(settings("lab"))
    section = "listen postgres_primary" + cfg.split("listen postgres_primary", 1)[1].split("\nlisten ", 1)[0]
    section = section.replace(f"bind :{render.PRIMARY_PORT}", f"bind 127.0.0.1:{free_port()}")
    section = section.replace(f"tcp-check connect port {PATRONI_PORT} ssl",
                              f"tcp-check connect port {patroni.server_address[1]} ssl")
    section = section.replace(f"tcp-check connect port {PGBOUNCER_PORT}",
                              f"tcp-check connect port {bouncer.server_address[1]}")
    section = section.replace(render.CA_FILE, str(tmp_path / "ca.pem"))
    servers = [ln for ln in section.splitlines() if ln.strip().startswith("server ")]
    db1 = f"    server db-1 127.0.0.1:{bouncer.server_address[1]} check verifyhost db-1"
    section = section.replace(servers[0], db1)
    for extra in servers[1:]:
        section = section.replace(extra + "\n", "")
    sock = tmp_path / "admin.sock"
    (tmp_path / "haproxy.cfg").write_text(
        f"global\n    stats socket {sock} mode 600 level admin\n\n"
        "defaults\n    mode tcp\n    timeout connect 3s\n    timeout check 2s\n    timeout client 30s\n"
        f"    timeout server 30s\n\n{section}\n")
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(tmp_path / "haproxy.cfg")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)

    def status() -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(sock))
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        rows = csv.DictReader(io.StringIO(data.decode().lstrip("# ")))
        return next(r["status"] for r in rows if r["svname"] == "db-1")

    def wait(want: str, seconds: float = 10) -> str:
        deadline = time.monotonic() + seconds
        got = ""
        while time.monotonic() < deadline:
            try:
                got = status().split()[0]
            except (OSError, StopIteration):
                got = "?"
            if got == want:
                break
            time.sleep(0.2)
        return got

    try:
        yield wait
    finally:
        proc.kill()
        proc.wait(timeout=10)
        bouncer.shutdown()
        patroni.shutdown()


def test_the_primary_is_routed_only_once_postgres_is_out_of_recovery(router: Any) -> None:
    FakePatroni.answer = (200, "master")
    assert router("UP") == "UP"
    # The leader key is held, but PostgreSQL is still a standby (a restart, a promotion under way).
    FakePatroni.answer = (200, "replica")
    assert router("DOWN") == "DOWN"
    FakePatroni.answer = (200, "primary")  # Patroni 4's name for it
    assert router("UP") == "UP"
    FakePatroni.answer = (503, "master")
    assert router("DOWN") == "DOWN"
