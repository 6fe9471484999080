"""The router's HAProxy configuration: checks, listeners, extra sections, `haproxy -c`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from components.router import render
from components.router.render import endpoint
from tests.unit.helpers import settings


def test_primary_listener_routes_to_pgbouncer_checked_by_patroni_and_pgbouncer() -> None:
    s = settings("lab")
    cfg = render.render_haproxy(s)
    primary = cfg.split("listen postgres_primary", 1)[1].split("\nlisten ", 1)[0]
    assert "bind :5000" in primary
    assert "server db-1 198.18.0.11:6432 check" in primary and "server db-2 198.18.0.12:6432 check" in primary
    # The check sequence: PgBouncer answers a GSSENCRequest, then Patroni says "primary" over TLS.
    seq = [line.strip() for line in primary.splitlines() if line.strip().startswith("tcp-check")]
    assert seq == [
        "tcp-check connect port 6432",
        "tcp-check send-binary 0000000804d21630",
        "tcp-check expect rbinary ^(4e|4E)",
        "tcp-check connect port 8008 ssl",
        'tcp-check send "GET /primary HTTP/1.0\\r\\n\\r\\n"',
        'tcp-check expect rstring "^HTTP/1\\.[01] 200"',
        'tcp-check expect rstring "\\"role\\": \\"(master|primary)\\""',
    ]
    assert "inter 1s" in primary and "fall 2 rise 1" in primary
    assert "on-marked-down shutdown-sessions" in primary
    assert f"verify required ca-file {render.CA_FILE}" in primary
    replicas = cfg.split("listen postgres_replicas", 1)[1]
    assert "bind :5001" in replicas and "OPTIONS /replica" in replicas
    assert '"${PLATFORM_PRIVATE_IP}:7000"' in cfg


def test_extra_sections_are_appended() -> None:
    s = settings("lab")
    cfg = render.render_haproxy(s, ["listen redis_master\n    bind :6379\n    mode tcp\n"])
    assert cfg.rstrip().endswith("mode tcp")
    assert cfg.index("listen redis_master") > cfg.index("listen stats")


def test_endpoints_by_placement() -> None:
    assert endpoint(settings("lab")) == "198.18.0.41:5000"
    assert endpoint(settings("prod-ha")) == "postgres-rw.platform.svc.cluster.local:5432"
    assert endpoint(settings("prod-ha"), render.REPLICA_PORT) == "postgres-ro.platform.svc.cluster.local:5432"
    assert render.render_defaults("198.18.0.41").endswith("PLATFORM_PRIVATE_IP=198.18.0.41\n")


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed (apt-get install haproxy)")
@pytest.mark.parametrize("stack", ["mvp", "prod-ha", "lab"])
def test_haproxy_accepts_the_configuration(stack: str, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    proc = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                           "-nodes", "-keyout", str(tmp_path / "ca.key"), "-out", str(ca), "-days", "1",
                           "-subj", "/CN=test-ca"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    section = "listen redis_master\n    bind :6379\n    mode tcp\n    server r1 127.0.0.1:6379 check\n"
    cfg = render.render_haproxy(settings(stack), [section]).replace(render.CA_FILE, str(ca))
    (tmp_path / "haproxy.cfg").write_text(cfg)
    env = dict(os.environ, PLATFORM_PRIVATE_IP="127.0.0.1")
    check = subprocess.run(["haproxy", "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True,
                           text=True, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "WARNING" not in check.stdout + check.stderr
