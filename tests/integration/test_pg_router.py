"""The router's PgBouncer check on the lab, with the real HAProxy and PgBouncer.

On a replica (so writes are not disturbed): while PgBouncer is up, the checks leave nothing in its
log; stopped or hung (SIGSTOP) while Patroni there stays healthy, HAProxy marks the server DOWN in
both listeners' view of it within a few check intervals; back, it is UP again.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from typing import Any

import pytest

from components.router import render as router_render
from components.router.render import router_hosts
from scripts.drills.common import Lab
from scripts.drills.pg_cluster import wait_healthy

pytestmark = pytest.mark.integration

LOG = "/var/log/postgresql/pgbouncer.log"
STATS = """
import sys, urllib.request
print(urllib.request.urlopen("http://%s:%d/;csv" % (sys.argv[1], int(sys.argv[2])), timeout=5).read().decode())
"""


@pytest.fixture(scope="module")
def lab(lab_up: dict[str, Any]) -> Iterator[Lab]:
    yield Lab("lab")


def server_status(lab: Lab, backend: str, server: str) -> str:
    edge = router_hosts(lab.settings)[0]
    p = lab.run(edge, ["python3", "-c", STATS, edge.private_ip, str(router_render.STATS_PORT)], timeout=20)
    assert p.returncode == 0, p.stderr
    for row in csv.DictReader(io.StringIO(p.stdout.lstrip("# "))):
        if row["pxname"] == backend and row["svname"] == server:
            return row["status"]
    raise AssertionError(f"{backend}/{server} not in the router's stats:\n{p.stdout[:2000]}")


def wait_status(lab: Lab, server: str, want: str, seconds: float = 15) -> float:
    """Seconds until the replicas listener shows `server` as `want` (UP / DOWN); fails after `seconds`."""
    start = time.monotonic()
    status = ""
    while time.monotonic() - start < seconds:
        status = server_status(lab, "postgres_replicas", server)
        if status.split()[0] == want:
            return time.monotonic() - start
        time.sleep(0.5)
    raise AssertionError(f"{server}: router shows {status!r}, not {want} after {seconds} s")


def patroni_says_replica(lab: Lab, host: str) -> bool:
    ip = lab.host(host).private_ip
    p = lab.sudo(host, f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 3 --cacert /etc/patroni/tls/ca.crt "
                       f"https://{ip}:8008/replica || true", timeout=20)
    return p.stdout.strip() == "200"


def test_router_drops_a_replica_whose_pgbouncer_is_down_or_hung(lab: Lab) -> None:
    st = wait_healthy(lab)
    replica = st["replicas"][0]
    assert wait_status(lab, replica, "UP") < 15

    # Healthy: the router's checks (two listeners, one check a second each) leave no log line.
    before = int(lab.sudo(replica, f"wc -l < {LOG}").stdout.strip())
    time.sleep(10)
    edge_ip = router_hosts(lab.settings)[0].private_ip
    new = lab.sudo(replica, f"tail -n +{before + 1} {LOG}").stdout.splitlines()
    probes = [ln for ln in new if f"@{edge_ip}:" in ln or "TLS handshake error" in ln]
    assert probes == [], "\n".join(probes[:5])

    try:
        lab.sudo(replica, "systemctl stop pgbouncer", timeout=30)
        assert patroni_says_replica(lab, replica), "Patroni should stay healthy"
        took = wait_status(lab, replica, "DOWN")
        print(f"pgbouncer stopped: DOWN after {took:.1f} s")
        lab.sudo(replica, "systemctl start pgbouncer", timeout=30)
        print(f"pgbouncer started: UP after {wait_status(lab, replica, 'UP'):.1f} s")

        lab.sudo(replica, "systemctl kill -s STOP pgbouncer", timeout=30)
        took = wait_status(lab, replica, "DOWN")
        print(f"pgbouncer hung: DOWN after {took:.1f} s")
    finally:
        lab.sudo(replica, "systemctl kill -s CONT pgbouncer; systemctl start pgbouncer", timeout=30)
    print(f"pgbouncer resumed: UP after {wait_status(lab, replica, 'UP'):.1f} s")
