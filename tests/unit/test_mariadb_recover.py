"""The Galera full-outage recovery (components/mariadb/files/mariadb-recover.sh): its bootstrap
decision over every data node's recovered position, the health check's /galera answer the peers
read (against a real MariaDB), and its units and wiring per preset. The recovery itself is run on
the lab (`platform-restart` with MariaDB on)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from components.mariadb import names as n
from components.mariadb import render
from components.mariadb.plan import FILES_DIR, plan
from tests.unit.helpers import settings
from tests.unit.test_mariadb import mariadb  # noqa: F401 (the scratch server fixture)

RECOVER = FILES_DIR / "mariadb-recover.sh"
UUID = "4366b299-f1ba-11f1-beff-2658786cd69d"
A, B, C = "10.0.0.11", "10.0.0.12", "10.0.0.13"


def decide(self_addr: str, nodes: list[str], *positions: str) -> str:
    p = subprocess.run(["bash", str(RECOVER), "decide", self_addr, *positions], capture_output=True, text=True,
                       timeout=30, env={**os.environ, "NODES": " ".join(nodes)})
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_the_most_advanced_node_bootstraps_and_the_first_wins_a_tie() -> None:
    both = [A, B]
    tie = (f"{A}={UUID}:19", f"{B}={UUID}:19")
    assert decide(A, both, *tie) == "bootstrap"
    assert decide(B, both, *tie) == f"wait: {A} is the most advanced (seqno 19)"
    ahead = (f"{A}={UUID}:19", f"{B}={UUID}:20")
    assert decide(B, both, *ahead) == "bootstrap"
    assert decide(A, both, *ahead).startswith(f"wait: {B} is the most advanced")
    three = [A, B, C]
    assert decide(C, three, f"{A}={UUID}:5", f"{B}={UUID}:7", f"{C}={UUID}:7").startswith(f"wait: {B}")


def test_no_bootstrap_without_complete_and_consistent_positions() -> None:
    both = [A, B]
    # The other node never reported (its VM is gone): it may hold the newest commits.
    assert decide(B, both, f"{B}={UUID}:99") == f"wait: no position from {A}"
    assert decide(A, both, f"{A}={UUID}:3", f"{B}=11111111-2222-3333-4444-555555555555:9") \
        .startswith(f"wait: {B} is in another cluster")
    assert decide(A, both, f"{A}={UUID}:3", f"{B}={UUID}:-1") == f"wait: {B} could not recover its position"
    zero = "00000000-0000-0000-0000-000000000000"
    assert decide(A, both, f"{A}={UUID}:3", f"{B}={zero}:-1") == f"wait: {B} was never in a cluster"
    assert decide(A, both, f"{A}={UUID}:3", f"{B}=garbage") == f"wait: {B} reports 'garbage'"


def galera_state(sock: str, recovered: Path, unit_state: str = "inactive") -> str:
    # The check asks systemd whether mariadb.service is stopped; this machine has no such unit (and
    # may not run systemd), so a `systemctl` first on PATH answers as the VM's systemd would.
    bin_dir = recovered.parent / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "systemctl"
    fake.write_text(f"#!/bin/sh\necho {unit_state}\n")
    fake.chmod(0o755)
    p = subprocess.run([str(FILES_DIR / "mariadb-check.sh")], input=b"GET /galera HTTP/1.1\r\nHost: x\r\n\r\n",
                       capture_output=True, timeout=30,
                       env={**os.environ, "SOCKET": sock, "GALERA": "1", "RECOVERED": str(recovered),
                            "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert p.returncode == 0, p.stderr
    head, _, body = p.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
    assert length == len(body)
    return body.decode().strip()


def test_health_check_tells_peers_the_galera_state(mariadb: str, tmp_path: Path) -> None:  # noqa: F811
    pos = tmp_path / "position"
    # A running server outside a Primary component (this one has no provider: Disconnected).
    assert galera_state(mariadb, pos) == "nonprimary"
    # Stopped (no server on the socket) with no recovered position, then with one.
    assert galera_state("/nonexistent/sock", pos) == "down"
    pos.write_text(f"{UUID}:19\n")
    assert galera_state("/nonexistent/sock", pos) == f"recovered {UUID}:19"
    assert galera_state("/nonexistent/sock", pos, "failed") == f"recovered {UUID}:19"
    # A unit still starting (its position is moving): not published.
    assert galera_state("/nonexistent/sock", pos, "activating") == "down"


def test_recovery_agent_on_every_galera_node_only() -> None:
    mvp, ha = settings("mvp"), settings("prod-ha")
    step = plan(mvp).step("db-1-mariadb")
    assert "mariadb-recover" not in step.files and "platform-mariadb-recover.timer" not in step.files
    nodes = " ".join(h.private_ip for h in n.data_hosts(ha))
    for h in n.data_hosts(ha):
        files = plan(ha).step(f"{h.name}-mariadb").files
        assert files["mariadb-recover"] == RECOVER.read_text()
        assert f'NODES="{nodes}"\n' in str(files["recover.default"]) and f"SELF={h.private_ip}\n" in str(
            files["recover.default"])
        assert "OnUnitInactiveSec=5s" in str(files["platform-mariadb-recover.timer"])
        # The saved-view recovery is off: the agent is the one way back (see the renderer's comment).
        assert "pc.recovery=FALSE" in render.render_server_cnf(ha, h)


def test_garb_watch_on_the_arbitrator() -> None:
    ha = settings("prod-ha")
    arb = n.arbitrator_host(ha)
    assert arb is not None
    files = plan(ha).step(f"{arb.name}-garbd").files
    assert files["garb-watch"] == (FILES_DIR / "garb-watch.sh").read_text()
    nodes = " ".join(h.private_ip for h in n.data_hosts(ha))
    assert f'NODES="{nodes}"\n' in str(files["garb-watch.default"])
    assert "ExecStart=/usr/local/lib/platform-garb/garb-watch" in str(files["platform-garb-watch.service"])


def test_recovery_units_pass_systemd_analyze(tmp_path: Path) -> None:
    units = {**render.render_recover_units(), **render.render_garb_watch_units()}
    for name, text in units.items():
        (tmp_path / name).write_text(text)
    p = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / u) for u in units)],
                       capture_output=True, text=True, timeout=60)
    problems = [ln for ln in (p.stdout + p.stderr).splitlines()
                if "platform-" in ln and "is not executable: No such file" not in ln]
    assert not problems, p.stdout + p.stderr
