"""MariaDB for Mautic (components/mariadb/): the rendered files against the real tools (MariaDB's
own option parser, a scratch MariaDB 10.11 for the health check and the users' SQL, HAProxy for
the router's listener), the topology per preset, the firewall, and refused settings."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from components import catalog
from components.contract import all_groups, all_ports
from components.firewall import firewall_matrix
from components.mariadb import names as n
from components.mariadb import render
from components.mariadb.plan import FILES_DIR, plan
from components.router.render import render_haproxy
from tests.unit.helpers import STACKS, config, problems, settings
from tests.unit.hostfiles import MARIADBD, check_file, mariadbd_check

HAS_MARIADB = Path(MARIADBD).exists() and shutil.which("mariadb") is not None and os.geteuid() == 0


@pytest.mark.parametrize("stack", STACKS)
def test_server_configuration_passes_mariadbs_own_parser(stack: str) -> None:
    s = settings(stack)
    if not s.mariadb.enabled:
        pytest.skip("mariadb.enabled is false")
    if not Path(MARIADBD).exists():
        pytest.skip("mariadb-server-core missing")
    for h in n.data_hosts(s):
        assert mariadbd_check(render.render_server_cnf(s, h)) is None
    assert mariadbd_check("[mysqld]\ninnodb_buffer_pool_sise = 128M\n")  # the check does refuse a typo


def test_topology_per_preset() -> None:
    mvp, ha, lab = settings("mvp"), settings("prod-ha"), settings("lab", mariadb={"enabled": True})
    # mvp: one database VM, MariaDB alone (no Galera, no arbitrator).
    assert len(n.data_hosts(mvp)) == 1 and not n.galera(mvp) and n.arbitrator_host(mvp) is None
    assert "wsrep_on" not in render.render_server_cnf(mvp, n.data_hosts(mvp)[0])
    assert [s.name for s in plan(mvp).steps] == ["db-1-mariadb", "db-1-mariadb-exporter", "db-1-mariadb-backup"]
    # prod-ha and the lab: Galera on both database VMs, the arbitrator on the etcd witness.
    for s in (ha, lab):
        arb = n.arbitrator_host(s)
        assert n.galera(s) and arb is not None and arb.name == s.postgres.etcd_witness
        cnf = render.render_server_cnf(s, n.data_hosts(s)[0])
        peers = ",".join(h.private_ip for h in (*n.data_hosts(s), arb))
        assert f"wsrep_cluster_address = gcomm://{peers}\n" in cnf
        assert "wsrep_auto_increment_control = OFF" in cnf and "wsrep_mode = REQUIRED_PRIMARY_KEY" in cnf
        assert "socket.ssl=yes" in cnf and "ssl-mode = VERIFY_CA" in cnf and "require_secure_transport = ON" in cnf
        p = plan(s)
        first, second = (p.step(f"{h.name}-mariadb") for h in n.data_hosts(s))
        assert first.params["BOOTSTRAP"] == "1" and second.params["BOOTSTRAP"] == "0"
        assert first.name in second.after  # one node at a time; the second joins the first
        assert p.step(f"{arb.name}-garbd").after[-1] == first.name
        assert first.params["MEMBERS"] == "3"
        # Backups on every node (the script acts on the designated one), after its server and the bucket.
        for h in n.data_hosts(s):
            b = p.step(f"{h.name}-mariadb-backup")
            assert b.after == (f"{h.name}-mariadb", "bucket:backups")
            assert f"HOST_IP={h.private_ip}\n" in str(b.files["backup.env"])
            assert "NODES='" + " ".join(x.private_ip for x in n.data_hosts(s)) + "'" in str(b.files["backup.env"])
        units = render.render_backup_units(s)
        incr = units["platform-mariadb-backup-incr.service"]
        assert "ExecStart=/usr/local/lib/platform-mariadb/mariadb-backup incr" in incr
        assert "OnCalendar=*-*-* 01:45:00" in units["platform-mariadb-backup-full.timer"]
        garb = render.render_garb_defaults(s)
        assert 'GALERA_NODES="' + " ".join(f"{h.private_ip}:4567" for h in n.data_hosts(s)) + '"' in garb


def test_disabled_means_nothing_at_all() -> None:
    s = settings("lab", mariadb={"enabled": False})
    contracts = catalog.contracts(s)
    assert plan(s).steps == () and next(c for c in contracts if c.name == "mariadb").ports == ()
    assert "mariadb_rw" not in render_haproxy(s, [ln.section for c in contracts for ln in c.router_listeners])


def test_firewall_matrix() -> None:
    s = settings("lab", mariadb={"enabled": True})
    cs = catalog.contracts(s)
    matrix = firewall_matrix(s, all_ports(cs), all_groups(cs))
    by = {(r.name, host): r for host, rules in matrix.items() for r in rules}
    edge = [h.private_ip + "/32" for h in s.hosts["edge"]]
    db = sorted(h.private_ip + "/32" for h in s.hosts["postgres"])
    members = sorted(db + [s.hosts.by_name(s.postgres.etcd_witness or "").private_ip + "/32"])
    mon = s.hosts["monitoring"][0].private_ip + "/32"
    # The router (no K3s in the lab) and monitoring's certificate probe.
    assert list(by[("mariadb", "db-1")].sources) == sorted([*edge, mon])
    assert list(by[("galera", "mon-1")].sources) == members and list(by[("galera", "db-2")].sources) == members
    assert list(by[("galera-sst", "db-1")].sources) == db and ("galera-sst", "mon-1") not in by
    # The health check: the router, the peers' recovery agents and the arbitrator's watch.
    assert list(by[("mariadb-check", "db-1")].sources) == sorted({*edge, *members})
    assert list(by[("mysqld-exporter", "db-1")].sources) == [s.hosts["monitoring"][0].private_ip + "/32"]
    assert ("mariadb", "redis-1") not in by


def test_router_listener_passes_haproxy() -> None:
    s = settings("prod-ha")
    cfg = render_haproxy(s, [ln.section for c in catalog.contracts(s) for ln in c.router_listeners])
    assert "listen mariadb_rw" in cfg and "http-check expect status 200" in cfg
    assert check_file("haproxy.cfg", cfg) is None
    section = render.router_section(s)
    assert section.count(" check\n") == len(n.data_hosts(s)) and "stick on int(1)" in section


def test_refused_settings_name_the_key() -> None:
    ps = problems(config("prod-ha", mariadb={"bufferPoolMb": 4000}))
    assert any(p.startswith("platform:mariadb.bufferPoolMb: 4000 MB is more than 35%") for p in ps), ps
    ps = problems(config("prod-ha", mariadb={"backup": {"fullSchedule": "61 * * * *"}}))
    assert any(p.startswith("platform:mariadb.backup.fullSchedule:") for p in ps), ps
    ps = problems(config("prod-ha", mariadb={"clusterName": "Bad_Name"}))
    assert any(p.startswith("platform:mariadb.clusterName:") for p in ps), ps
    ps = problems(config("prod-ha", mariadb={"bogus": 1}))
    assert any("platform:mariadb.bogus" in p for p in ps), ps


# --- against a scratch MariaDB 10.11 --------------------------------------------------------------


@pytest.fixture(scope="module")
def mariadb() -> Iterator[str]:
    """A scratch MariaDB (run as root, socket only): its socket path."""
    if not HAS_MARIADB:
        pytest.skip("needs mariadb-server-core, mariadb-client-core and root")
    base = tempfile.mkdtemp(prefix="platform-mariadb-")
    sock, pid = f"{base}/sock", f"{base}/pid"
    try:
        p = subprocess.run(["mariadb-install-db", "--no-defaults", "--user=root", f"--datadir={base}/data",
                            "--auth-root-authentication-method=socket"], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr[-1000:]
        proc = subprocess.Popen([MARIADBD, "--no-defaults", "--user=root", f"--datadir={base}/data",
                                 f"--socket={sock}", "--skip-networking", f"--pid-file={pid}",
                                 f"--log-error={base}/err.log", "--innodb-buffer-pool-size=32M"])
        try:
            deadline = time.time() + 60
            while time.time() < deadline and not sql(sock, "SELECT 1").returncode == 0:
                time.sleep(0.2)
            assert sql(sock, "SELECT 1").returncode == 0, Path(f"{base}/err.log").read_text()[-1000:]
            yield sock
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def sql(sock: str, query: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = ["mariadb", "--protocol=socket", "-S", sock, "-N", "-B"] + (["-e", query] if query else [])
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30)


def check(sock: str, galera: bool) -> tuple[str, str]:
    p = subprocess.run([str(FILES_DIR / "mariadb-check.sh")], input=b"GET / HTTP/1.0\r\n\r\n", capture_output=True,
                       timeout=30, env={**os.environ, "SOCKET": sock, "GALERA": "1" if galera else "0"})
    assert p.returncode == 0, p.stderr
    head, _, body = p.stdout.partition(b"\r\n\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
    assert length == len(body)  # HAProxy reads exactly this much
    return head.split(b"\r\n")[0].decode(), body.decode()


def test_health_check_against_a_real_server(mariadb: str) -> None:
    status, body = check(mariadb, galera=False)
    assert status == "HTTP/1.1 200 OK" and "read_only=OFF" in body
    # Galera expected but this server has no provider: not writable as a cluster node.
    status, body = check(mariadb, galera=True)
    assert status.startswith("HTTP/1.1 503") and "wsrep_cluster_status=Disconnected" in body
    assert sql(mariadb, "SET GLOBAL read_only = 1").returncode == 0
    try:
        status, body = check(mariadb, galera=False)
        assert status.startswith("HTTP/1.1 503") and "read_only=ON" in body
    finally:
        sql(mariadb, "SET GLOBAL read_only = 0")
    status, body = check("/nonexistent/socket", galera=False)
    assert status.startswith("HTTP/1.1 503") and "mariadb:" in body


def test_users_sql_runs_twice_and_grants_what_the_exporter_needs(mariadb: str) -> None:
    text = render.render_users_sql().replace("{{secret:mariadb_mautic}}", "appPw123").replace(
        "{{secret:mariadb_exporter}}", "expPw456")
    for _ in range(2):  # idempotent: a re-apply with the same (or a rotated) password
        p = sql(mariadb, "", stdin=text)
        assert p.returncode == 0, p.stderr
    grants = sql(mariadb, f"SHOW GRANTS FOR '{n.EXPORTER_USER}'@'localhost'").stdout
    assert "PROCESS" in grants and "BINLOG MONITOR" in grants and "SLAVE MONITOR" in grants
    app = sql(mariadb, f"SHOW CREATE USER '{n.APP_USER}'@'%'").stdout
    assert "REQUIRE SSL" in app
    assert sql(mariadb, f"SHOW CREATE USER '{n.CHECK_USER}'@'localhost'").stdout.count("unix_socket") == 1
    assert n.DATABASE in sql(mariadb, "SHOW DATABASES").stdout.split()


def test_health_check_over_tcp_reads_the_whole_request(mariadb: str) -> None:
    # As systemd's Accept=yes runs it: the connection is stdin and stdout. HAProxy sends headers
    # after the request line; answering and closing with them unread made the kernel reset the
    # connection, and HAProxy marked every node down ("Connection reset by peer", on the lab).
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve() -> None:
        c, _ = srv.accept()
        with c:
            subprocess.run([str(FILES_DIR / "mariadb-check.sh")], stdin=c.fileno(), stdout=c.fileno(), timeout=20,
                           env={**os.environ, "SOCKET": mariadb, "GALERA": "0"})

    t = threading.Thread(target=serve)
    t.start()
    try:
        with socket.create_connection(srv.getsockname(), timeout=10) as cl:
            cl.sendall(b"GET / HTTP/1.0\r\nUser-Agent: HAProxy\r\nAccept: */*\r\n\r\n")
            time.sleep(0.5)  # the answer and the close are there before we read
            data = b""
            while chunk := cl.recv(4096):
                data += chunk
    finally:
        t.join(timeout=30)
        srv.close()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"writable: read_only=OFF\n")


def _ca_and_cert(d: Path, cn: str) -> None:
    """A throwaway CA (ca.crt) and a server certificate for 127.0.0.1 (host.crt, host.key) in `d`."""
    def ossl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, capture_output=True, check=True, timeout=60)

    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
         "-out", "ca.crt", "-days", "2", "-subj", f"/CN={cn} CA")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "host.key",
         "-out", "host.csr", "-subj", "/CN=db-test")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "host.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "host.crt", "-days", "1", "-extfile", "ext.cnf")


def test_starttls_probe_reads_mariadbs_certificate() -> None:
    # components/monitoring/files/tls-probe.sh with protocol `mysql` against a real MariaDB serving
    # TLS on loopback: a verified handshake with the right CA, a failed one with another CA.
    if not HAS_MARIADB or shutil.which("openssl") is None:
        pytest.skip("needs mariadb-server-core, mariadb-client-core, openssl and root")
    import socket

    base = Path(tempfile.mkdtemp(prefix="platform-mariadb-tls-"))
    try:
        _ca_and_cert(base, "platform")
        other = base / "other"
        other.mkdir()
        _ca_and_cert(other, "stranger")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        p = subprocess.run(["mariadb-install-db", "--no-defaults", "--user=root", f"--datadir={base}/data"],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr[-800:]
        proc = subprocess.Popen([MARIADBD, "--no-defaults", "--user=root", f"--datadir={base}/data",
                                 f"--socket={base}/sock", "--bind-address=127.0.0.1", f"--port={port}",
                                 f"--pid-file={base}/pid", f"--log-error={base}/err.log",
                                 "--innodb-buffer-pool-size=32M", f"--ssl-ca={base}/ca.crt",
                                 f"--ssl-cert={base}/host.crt", f"--ssl-key={base}/host.key"])
        try:
            deadline = time.time() + 60
            while time.time() < deadline and sql(f"{base}/sock", "SELECT 1").returncode != 0:
                time.sleep(0.2)
            probe = Path(__file__).resolve().parents[2] / "components/monitoring/files/tls-probe.sh"
            (base / "targets").write_text(f"mariadb db-test 127.0.0.1:{port} mysql\n")
            out = {}
            for name, ca in (("right", base / "ca.crt"), ("wrong", other / "ca.crt")):
                text_dir = base / f"textfile-{name}"
                r = subprocess.run(["bash", str(probe)], capture_output=True, text=True, timeout=60,
                                   env={**os.environ, "TARGETS": str(base / "targets"), "CA": str(ca),
                                        "TEXTFILE_DIR": str(text_dir)})
                assert r.returncode == 0, r.stderr
                out[name] = (text_dir / "platform_tls_probe.prom").read_text()
            assert 'platform_tls_probe_success{service="mariadb",host="db-test",' in out["right"]
            assert re.search(r'platform_tls_probe_success\{[^}]*\} 1\n', out["right"]), out["right"]
            assert "platform_tls_cert_not_after_seconds{" in out["right"]
            assert re.search(r'platform_tls_probe_success\{[^}]*\} 0\n', out["wrong"]), out["wrong"]
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    finally:
        shutil.rmtree(base, ignore_errors=True)
