"""PostgreSQL renderers: settings reach the files, no secret in any file, real tools accept them."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from components.postgres import render
from components.postgres.names import etcd_members
from tests.unit.helpers import settings

PATRONIS = [p for p in ("/usr/bin/patroni", "/tmp/patroni-3.2.2/bin/patroni", "/tmp/patroni-4.0.4/bin/patroni")
            if Path(p).exists()]


def all_files(stack: str) -> dict[str, str]:
    s = settings(stack)
    files = {"dcs": render.render_dcs(s), "pgbackrest": render.render_pgbackrest(s, "bkt"),
             "userlist": render.render_userlist(), "cron": render.render_backup_cron(s),
             "backup": render.render_backup_script(s), "roles": render.render_roles(s),
             "dbs": render.render_databases(s.postgres.databases), "appdb": render.render_app_db_sql(),
             "pgbouncer-exporter-pgpass": render.render_pgbouncer_exporter_pgpass(),
             "pgbouncer-exporter-unit": render.render_pgbouncer_exporter_unit()}
    for h in s.hosts["postgres"]:
        files[f"patroni-{h.name}"] = render.render_patroni(s, h)
        files[f"pgbouncer-{h.name}"] = render.render_pgbouncer(s, h)
        files[f"exporter-{h.name}"] = render.render_exporter_defaults(h)
        files[f"pgbouncer-exporter-{h.name}"] = render.render_pgbouncer_exporter(h)
    for h in etcd_members(s):
        files[f"etcd-{h.name}"] = render.render_etcd(s, h)
    return files


@pytest.mark.parametrize("stack", ["mvp", "prod-ha", "lab"])
def test_no_secret_value_in_any_file_only_placeholders(stack: str) -> None:
    for name, text in all_files(stack).items():
        assert "placeholder-" not in text, name
        assert "generated-" not in text, name
        for m in re.findall(r"\{\{secret:([A-Za-z0-9_.-]+)\}\}", text):
            assert m in render.secret_names(settings(stack)) + [render.SECRET_HOST_KEY], (name, m)
        assert "BEGIN PRIVATE KEY" not in text


def test_timing_profile_and_synchronous_mode() -> None:
    for stack, sync in (("mvp", False), ("prod-ha", True), ("lab", True)):
        s = settings(stack)
        cfg = yaml.safe_load(render.render_patroni(s, s.hosts["postgres"][0]))
        dcs = cfg["bootstrap"]["dcs"]
        assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (20, 10, 5)
        assert dcs["primary_start_timeout"] == 10
        assert dcs["synchronous_mode"] is sync and dcs["synchronous_mode_strict"] is False
        assert dcs["failsafe_mode"] is True
        assert dcs["postgresql"]["use_pg_rewind"] and dcs["postgresql"]["use_slots"]
        assert "data-checksums" in cfg["bootstrap"]["initdb"]
        assert yaml.safe_load(render.render_dcs(s)) == dcs
    s = settings("prod-ha", postgres={"etcdWitness": "mon-1", "ttl": 30, "loopWait": 10,
                                      "retryTimeout": 10, "primaryStartTimeout": 5, "synchronous": False})
    dcs = yaml.safe_load(render.render_dcs(s))
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"], dcs["primary_start_timeout"]) == (30, 10, 10, 5)
    assert dcs["synchronous_mode"] is False


def test_etcd_members_include_the_witness() -> None:
    s = settings("prod-ha")
    cfg = yaml.safe_load(render.render_patroni(s, s.hosts["postgres"][1]))
    assert cfg["etcd3"]["hosts"] == ["192.0.2.21:2379", "192.0.2.22:2379", "192.0.2.41:2379"]
    assert cfg["etcd3"]["protocol"] == "https"
    etcd = render.render_etcd(s, s.hosts["monitoring"][0])
    assert ('ETCD_INITIAL_CLUSTER="db-1=https://192.0.2.21:2380,db-2=https://192.0.2.22:2380,'
            'mon-1=https://192.0.2.41:2380"') in etcd
    assert 'ETCD_CLIENT_CERT_AUTH="true"' in etcd and 'ETCD_PEER_CLIENT_CERT_AUTH="true"' in etcd
    assert 'ETCD_PRE_VOTE="true"' in etcd  # a healed member must not depose the leader
    assert 'ETCD_HEARTBEAT_INTERVAL="100"' in etcd and 'ETCD_ELECTION_TIMEOUT="1000"' in etcd
    timed = settings("prod-ha", postgres={"etcdWitness": "mon-1", "etcdHeartbeatMs": 150,
                                          "etcdElectionTimeoutMs": 1500})
    assert 'ETCD_HEARTBEAT_INTERVAL="150"' in render.render_etcd(timed, timed.hosts["monitoring"][0])
    mvp = settings("mvp")
    assert render.etcd_hosts(mvp) == ["192.0.2.21:2379"]


def test_etcd_step_knows_its_peers_for_joining_and_pruning() -> None:
    s = settings("prod-ha")
    p = render.etcd_step_params(s, s.hosts["monitoring"][0])
    assert p["MEMBER_NAME"] == "mon-1" and p["PEER_URL"] == "https://192.0.2.41:2380"
    assert p["OTHER_ENDPOINTS"] == "https://192.0.2.21:2379,https://192.0.2.22:2379"
    assert p["OWN_ENDPOINT"] == "https://192.0.2.41:2379"
    assert p["ALL_ENDPOINTS"].split(",")[-1] == "https://192.0.2.41:2379"
    assert p["MEMBER_PEER_URLS"] == "https://192.0.2.21:2380,https://192.0.2.22:2380,https://192.0.2.41:2380"
    assert p["DATA_DIR"] in render.render_etcd(s, s.hosts["monitoring"][0])
    # The join settings override the bootstrap ones only where a join wrote them.
    assert "EnvironmentFile=-/etc/etcd/join.env" in render.render_etcd_join_dropin()
    assert render.etcd_step_params(settings("mvp"), settings("mvp").hosts["postgres"][0])["OTHER_ENDPOINTS"] == ""
    # Only the witness keeps the raft leader, by a timer.
    assert p["PREFERRED_LEADER"] == "1"
    assert render.etcd_step_params(s, s.hosts["postgres"][0])["PREFERRED_LEADER"] == "0"
    units = render.render_etcd_leader_units()
    assert "ExecStart=/usr/local/sbin/platform-etcd-leader" in units["etcd-leader.service"]
    assert "OnUnitActiveSec=30s" in units["etcd-leader.timer"]


def test_patroni_tls_archive_and_replica_methods() -> None:
    s = settings("lab")
    cfg = yaml.safe_load(render.render_patroni(s, s.hosts["postgres"][0]))
    params = cfg["postgresql"]["parameters"]
    assert params["ssl"] == "on" and cfg["restapi"]["certfile"] and cfg["restapi"]["cafile"]
    assert params["archive_mode"] == "on"
    assert params["archive_command"] == "/usr/bin/pgbackrest --stanza=platform-pg archive-push %p"
    assert cfg["postgresql"]["create_replica_methods"] == ["pgbackrest", "basebackup"]
    for user in ("superuser", "replication", "rewind"):
        assert cfg["postgresql"]["authentication"][user]["sslmode"] == "verify-ca"
    hba = cfg["postgresql"]["pg_hba"]
    repl = [r for r in hba if " replication " in r]
    remote = [r for r in repl if r.split()[3] not in ("127.0.0.1/32", "::1/128")]
    # Remote replication only from the database VMs and only over TLS; loopback for Patroni itself.
    assert [r.split()[0] for r in remote] == ["hostssl", "hostssl"]
    assert {r.split()[3] for r in remote} == {"198.18.0.11/32", "198.18.0.12/32"}
    assert len(repl) == 4
    assert all("scram-sha-256" in r or "peer" in r or "reject" in r for r in hba)
    assert not any(r.split()[0] == "host" and "0.0.0.0/0" in r for r in hba)


def test_memory_parameters_follow_the_vm_size() -> None:
    lab, prod = settings("lab"), settings("prod-ha")
    small = yaml.safe_load(render.render_patroni(lab, lab.hosts["postgres"][0]))["postgresql"]["parameters"]
    big = yaml.safe_load(render.render_patroni(prod, prod.hosts["postgres"][0]))["postgresql"]["parameters"]
    assert small["shared_buffers"] == "256MB" and big["shared_buffers"] == "2048MB"
    assert big["effective_cache_size"] == "6144MB"
    assert yaml.safe_load(render.render_dcs(prod))["postgresql"]["parameters"]["max_connections"] == 256


def test_pgbouncer_pool_modes_and_auth() -> None:
    s = settings("prod-ha", postgres={"etcdWitness": "mon-1", "poolMode": "transaction",
                                      "poolModeOverrides": {"odoo": "session"}, "extraDatabases": ["reports"]})
    ini = render.render_pgbouncer(s, s.hosts["postgres"][0])
    assert "odoo = host=/var/run/postgresql port=5432 dbname=odoo pool_mode=session" in ini
    assert "nextcloud = host=/var/run/postgresql port=5432 dbname=nextcloud pool_mode=transaction" in ini
    assert "reports = " in ini
    for line in ("listen_port = 6432", "auth_type = scram-sha-256", "auth_user = pgbouncer_auth",
                 "pool_mode = transaction", "unix_socket_dir = /var/run/pgbouncer", "stats_users = postgres_exporter",
                 "client_tls_sslmode = require", "listen_addr = 192.0.2.21,127.0.0.1"):
        assert line in ini.splitlines(), line
    assert "pool_mode = session" in render.render_pgbouncer(settings("mvp"), settings("mvp").hosts["postgres"][0])


def test_pgbackrest_conf() -> None:
    s = settings("lab")
    conf = render.render_pgbackrest(s, "platform-lab-backups").splitlines()
    for line in ("repo1-type=s3", "repo1-s3-uri-style=path", "repo1-s3-endpoint=198.18.0.1",
                 "repo1-storage-port=9443", "repo1-s3-bucket=platform-lab-backups", "repo1-s3-region=us-east-1",
                 "repo1-cipher-type=aes-256-cbc", "repo1-cipher-pass={{secret:pgbackrest_cipher_pass}}",
                 "archive-async=y", "spool-path=/var/spool/pgbackrest", "archive-push-queue-max=4GiB",
                 "repo1-retention-full=7", "[platform-pg]", "pg1-path=/var/lib/postgresql/15/platform"):
        assert line in conf, line
    assert not any(x.startswith("repo1-storage-ca-file") for x in conf)
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    with_ca = settings("lab", s3={"endpoint": "https://s3.lab.test", "caCertificate": pem})
    conf = render.render_pgbackrest(with_ca, "b").splitlines()
    assert "repo1-storage-ca-file=/etc/pgbackrest/s3-ca.crt" in conf and "repo1-storage-port=443" in conf


def test_backup_schedule_runs_everywhere_but_acts_on_the_primary() -> None:
    s = settings("prod-ha", postgres={"etcdWitness": "mon-1",
                                      "backup": {"fullSchedule": "15 3 * * 0", "incrementalSchedule": "*/30 * * * *"}})
    cron = render.render_backup_cron(s)
    assert "15 3 * * 0 postgres /usr/local/sbin/platform-pg-backup full" in cron
    assert "*/30 * * * * postgres /usr/local/sbin/platform-pg-backup incr" in cron
    script = render.render_backup_script(s)
    assert "pg_is_in_recovery()" in script and '!= f ]' in script
    if shutil.which("sh"):
        assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0


def test_roles_and_databases() -> None:
    s = settings("prod-ha", postgres={"etcdWitness": "mon-1", "extraDatabases": ["reports"]})
    kinds = {r.name: r.kind for r in render.roles(s)}
    assert kinds == {"nextcloud": "app", "odoo": "app", "keycloak": "app", "reports": "app",
                     "postgres_exporter": "monitoring", "platform_backup": "backup",
                     "pgbouncer_auth": "pgbouncer_auth"}
    assert render.render_databases(s.postgres.databases).splitlines() == [
        "nextcloud\tnextcloud", "odoo\todoo", "keycloak\tkeycloak", "reports\treports"]


# --- real tools -----------------------------------------------------------------------------------


def _validatable(stack: str) -> tuple[str, socket.socket]:
    """Patroni's validator probes addresses: listen ports must be free and etcd must accept TCP.
    Point them at loopback (a listening socket stands in for etcd); everything else is as rendered."""
    s = settings(stack)
    cfg = yaml.safe_load(render.render_patroni(s, s.hosts["postgres"][0]).replace("{{secret:", "x").replace("}}", ""))
    etcd = socket.socket()
    etcd.bind(("127.0.0.1", 0))
    etcd.listen()
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    free = probe.getsockname()[1]
    probe.close()
    cfg["etcd3"]["hosts"] = [f"127.0.0.1:{etcd.getsockname()[1]}"]
    cfg["restapi"]["listen"] = f"127.0.0.1:{free}"
    cfg["postgresql"]["listen"] = f"127.0.0.1:{free}"
    return yaml.safe_dump(cfg), etcd


@pytest.mark.skipif(not PATRONIS, reason="patroni not installed (apt-get install patroni)")
@pytest.mark.parametrize("stack", ["mvp", "prod-ha", "lab"])
def test_patroni_validate_config(stack: str, tmp_path: Path) -> None:
    text, etcd = _validatable(stack)
    try:
        (tmp_path / "ok.yml").write_text(text)
        bad = yaml.safe_load(text)
        bad["bootstrap"]["dcs"]["ttl"] = "twenty"
        bad["restapi"]["listen"] = "nowhere"
        (tmp_path / "bad.yml").write_text(yaml.safe_dump(bad))
        for exe in PATRONIS:
            ok = subprocess.run([exe, "--validate-config", str(tmp_path / "ok.yml")], capture_output=True, text=True)
            assert ok.returncode == 0, (exe, ok.stdout, ok.stderr)
            # The validator really validates (a broken copy is refused).
            no = subprocess.run([exe, "--validate-config", str(tmp_path / "bad.yml")], capture_output=True, text=True)
            assert no.returncode != 0, exe
    finally:
        etcd.close()


@pytest.mark.skipif(shutil.which("pgbackrest") is None, reason="pgbackrest not installed (apt-get install pgbackrest)")
def test_pgbackrest_knows_every_option(tmp_path: Path) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    s = settings("lab", s3={"endpoint": "https://127.0.0.1:1", "caCertificate": pem})
    conf = render.render_pgbackrest(s, "b").replace("{{secret:", "x").replace("}}", "")
    (tmp_path / "pgbackrest.conf").write_text(conf + "\n")
    (tmp_path / "bad.conf").write_text(conf.replace("delta=y", "delta=y\nno-such-option=1"))

    def run(cfg: str, *extra: str) -> subprocess.CompletedProcess[str]:
        # `start` parses the whole configuration (unknown options are warned about) and touches
        # nothing but the lock path: no connection to PostgreSQL or S3.
        return subprocess.run(["pgbackrest", f"--config={tmp_path / cfg}", "--stanza=platform-pg",
                               f"--lock-path={tmp_path}", "--log-level-file=off", "--log-level-console=warn",
                               *extra, "start"], capture_output=True, text=True, timeout=30)

    ok = run("pgbackrest.conf")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "invalid option" not in ok.stdout + ok.stderr
    assert "invalid option 'no-such-option'" in (lambda p: p.stdout + p.stderr)(run("bad.conf"))
    # Value checks: sizes as pgBackRest parses them.
    size = subprocess.run(["pgbackrest", "help", "archive-push", "archive-push-queue-max"], capture_output=True,
                          text=True)
    assert size.returncode == 0


def test_exporter_dsn_is_a_url_so_the_exporter_masks_it_in_logs() -> None:
    from tests.unit.helpers import settings as mk

    s = mk("lab")
    text = render.render_exporter_defaults(s.hosts["postgres"][0])
    assert "DATA_SOURCE_NAME='postgresql://postgres_exporter:{{secret:" in text
    assert "password=" not in text


# --- prometheus-pgbouncer-exporter ----------------------------------------------------------------


@pytest.mark.parametrize("stack", ["mvp", "prod-ha", "lab"])
def test_pgbouncer_exporter_reads_the_admin_console_over_the_socket(stack: str) -> None:
    s = settings(stack)
    for h in s.hosts["postgres"]:
        conf = render.render_pgbouncer_exporter(h).splitlines()
        ini = render.render_pgbouncer(s, h).splitlines()
        # Metrics on the private address only, on the exporter's own port.
        assert f"host = {h.private_ip}" in conf and "port = 9127" in conf
        assert not any("0.0.0.0" in ln for ln in conf)
        # PgBouncer's own socket and port, as the user PgBouncer lets read its stats.
        assert "pgbouncer-host = /var/run/pgbouncer" in conf and "unix_socket_dir = /var/run/pgbouncer" in ini
        assert "pgbouncer-port = 6432" in conf and "listen_port = 6432" in ini
        assert "pgbouncer-user = postgres_exporter" in conf and "stats_users = postgres_exporter" in ini
        assert "{{secret:" not in "\n".join(conf) and "password" not in "\n".join(conf)


def test_pgbouncer_exporter_password_only_as_a_placeholder() -> None:
    pgpass = render.render_pgbouncer_exporter_pgpass()
    assert pgpass == "*:6432:pgbouncer:postgres_exporter:{{secret:pg_monitoring_password}}\n"
    # The same secret PgBouncer checks the stats user against.
    assert '"postgres_exporter" "{{secret:pg_monitoring_password}}"' in render.render_userlist().splitlines()
    unit = render.render_pgbouncer_exporter_unit().splitlines()
    assert unit[unit.index("ExecStart=") + 1] == (
        "ExecStart=/usr/bin/python3 /usr/local/lib/platform-pgbouncer-exporter/pgbouncer-exporter")
    assert "Environment=PGPASSFILE=/etc/prometheus-pgbouncer-exporter.pgpass" in unit
    assert "Restart=on-failure" in unit
    assert "{{secret:" not in "\n".join(unit)


PLACEHOLDER_RE = re.compile(r"\{\{secret:[A-Za-z0-9_.-]+\}\}")


def _has_pgbouncer_exporter_package() -> bool:
    return Path("/usr/bin/python3").exists() and subprocess.run(
        ["/usr/bin/python3", "-c", "import prometheus_pgbouncer_exporter.cli"], capture_output=True).returncode == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _metrics(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return str(r.read().decode())
    except OSError:
        return ""


def _wait_metrics(url: str, want: str, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    text = ""
    while time.monotonic() < deadline:
        text = _metrics(url)
        if want in text:
            return text
        time.sleep(0.3)
    return text


class RealPgBouncer:
    """The rendered pgbouncer.ini (loopback port, scratch directory for socket, log, TLS files and
    userlist) run by the real PgBouncer as postgres; `ini_edits` are extra (old, new) replacements."""

    def __init__(self, password: str, ini_edits: tuple[tuple[str, str], ...] = ()) -> None:
        self.settings = settings("lab")
        self.host = dataclasses.replace(self.settings.hosts["postgres"][0], private_ip="127.0.0.1")
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="platform-pgb-"))
        self.password = password
        self.ini_edits = ini_edits

    def as_pg(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], capture_output=True, text=True, timeout=30)

    def __enter__(self) -> RealPgBouncer:
        d = self.dir
        key, crt = d / "host.key", d / "host.crt"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                        str(crt), "-days", "1", "-subj", "/CN=pgbouncer-test"], check=True, capture_output=True)
        ini = render.render_pgbouncer(self.settings, self.host)
        for old, new in (("listen_addr = 127.0.0.1,127.0.0.1", "listen_addr = 127.0.0.1"),
                         ("listen_port = 6432", f"listen_port = {self.port}"),
                         (render.PGBOUNCER_SOCKET_DIR, str(d)), ("/var/log/postgresql", str(d)),
                         ("/etc/pgbouncer/userlist.txt", str(d / "userlist.txt")),
                         (f"{render.PGBOUNCER_TLS}/host.crt", str(crt)), (f"{render.PGBOUNCER_TLS}/host.key", str(key)),
                         (f"{render.PGBOUNCER_TLS}/ca.crt", str(crt)), *self.ini_edits):
            assert old in ini, old
            ini = ini.replace(old, new)
        (d / "pgbouncer.ini").write_text(ini)
        (d / "userlist.txt").write_text(PLACEHOLDER_RE.sub(self.password, render.render_userlist()))
        return self

    def start(self) -> None:
        subprocess.run(["chown", "-R", "postgres:postgres", str(self.dir)], check=True)
        self.dir.chmod(0o755)
        (self.dir / "host.key").chmod(0o600)
        p = self.as_pg("pgbouncer", "-d", str(self.dir / "pgbouncer.ini"))
        assert p.returncode == 0, p.stdout + p.stderr
        deadline = time.monotonic() + 10
        while not (self.dir / f".s.PGSQL.{self.port}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self) -> None:
        pidfile = self.dir / "pgbouncer.pid"
        pid = pidfile.read_text().strip() if pidfile.exists() else ""
        if pid:
            subprocess.run(["kill", pid], check=False)
            deadline = time.monotonic() + 10
            while pidfile.exists() and time.monotonic() < deadline:
                time.sleep(0.1)

    def log(self) -> str:
        f = self.dir / "pgbouncer.log"
        return f.read_text() if f.exists() else ""

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


NEEDS_PGBOUNCER = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("pgbouncer") is None or shutil.which("runuser") is None
    or shutil.which("openssl") is None, reason="needs root, pgbouncer and openssl installed")


@NEEDS_PGBOUNCER
@pytest.mark.skipif(not _has_pgbouncer_exporter_package(), reason="needs prometheus-pgbouncer-exporter installed")
def test_pgbouncer_exporter_against_a_real_pgbouncer() -> None:
    """The rendered PgBouncer and exporter files with the real PgBouncer and the packaged exporter
    run through our launcher: it starts (the unpatched 1.7 dies with KeyError 'total_requests' on
    PgBouncer >= 1.8), reads the stats as the stats user over the socket, and reconnects after
    PgBouncer restarts."""
    exporter: subprocess.Popen[bytes] | None = None
    log = None
    with RealPgBouncer("Pgb0uncerExp0rterTest") as pgb:
        s, d, host, web_port = pgb.settings, pgb.dir, pgb.host, _free_port()
        try:
            conf = render.render_pgbouncer_exporter(host)
            for old, new in (("port = 9127", f"port = {web_port}"),
                             ("pgbouncer-port = 6432", f"pgbouncer-port = {pgb.port}"),
                             (f"pgbouncer-host = {render.PGBOUNCER_SOCKET_DIR}", f"pgbouncer-host = {d}")):
                assert old in conf, old
                conf = conf.replace(old, new)
            (d / "exporter.conf").write_text(conf)
            pgpass = PLACEHOLDER_RE.sub(pgb.password, render.render_pgbouncer_exporter_pgpass())
            (d / "pgpass").write_text(pgpass.replace(":6432:", f":{pgb.port}:"))
            launcher = Path(__file__).resolve().parents[2] / "components/postgres/host/pgbouncer_exporter.py"
            shutil.copy(launcher, d / "launcher")
            pgb.start()
            (d / "pgpass").chmod(0o600)
            log = (d / "exporter.log").open("wb")
            exporter = subprocess.Popen(
                ["runuser", "-u", "postgres", "--", "env", f"CONFIG={d / 'exporter.conf'}",
                 f"PGPASSFILE={d / 'pgpass'}", "/usr/bin/python3", str(d / "launcher")],
                stdout=log, stderr=subprocess.STDOUT, cwd=d)
            url = f"http://127.0.0.1:{web_port}/metrics"
            text = _wait_metrics(url, "pgbouncer_databases ", 15)
            assert exporter.poll() is None, (d / "exporter.log").read_text()
            samples = dict(ln.rsplit(" ", 1) for ln in text.splitlines() if ln and not ln.startswith("#"))
            # The app databases of [databases], `postgres` (Odoo's bus) and the admin console itself.
            assert float(samples["pgbouncer_databases"]) == len(s.postgres.databases) + 2
            # The exporter's own connection, as a client of the admin console's pool.
            assert float(samples['pgbouncer_active_clients{database="pgbouncer",user="pgbouncer"}']) >= 1
            assert 'pgbouncer_queries_total{database="pgbouncer"}' in samples
            assert f'pgbouncer_pool_size{{database="{s.postgres.databases[0]}"}}' in samples

            pgb.stop()
            pgb.start()
            assert "pgbouncer_databases " in _wait_metrics(url, "pgbouncer_databases ", 15), "no reconnect"
            assert pgb.password not in (d / "exporter.log").read_text()
        finally:
            if exporter is not None:
                exporter.terminate()
                exporter.wait(timeout=10)
            if log is not None:
                log.close()


@NEEDS_PGBOUNCER
def test_router_probe_leaves_pgbouncer_silent() -> None:
    """The router's PgBouncer probe, byte for byte as rendered into haproxy.cfg, against the real
    PgBouncer: the reply matches the rendered expectation, and a probe closed the way HAProxy closes
    it (reset) or gracefully leaves no log line and no half-open login behind. (An SSLRequest probe
    logged a TLS handshake WARNING per check and held login slots for client_login_timeout.)"""
    from components.router import render as router_render

    section = router_render.render_haproxy(settings("lab")).split("listen postgres_primary", 1)[1]
    steps = [ln.strip().split(" ", 2) for ln in section.splitlines() if ln.strip().startswith("tcp-check ")]
    probe = bytes.fromhex(next(arg for _, verb, arg in steps if verb == "send-binary"))
    expect = next(arg for _, verb, arg in steps if verb == "expect").removeprefix("rbinary ")
    edits = (("[pgbouncer]\n", "[pgbouncer]\nclient_login_timeout = 2\n"),)
    with RealPgBouncer("Pr0beTestPassw0rd", edits) as pgb:
        pgb.start()
        before = pgb.log()
        for reset in (True, False, True, False):
            with socket.create_connection(("127.0.0.1", pgb.port), timeout=3) as c:
                c.sendall(probe)
                reply = c.recv(1)
                assert re.match(expect, reply.hex()), (reply, expect)
                if reset:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        time.sleep(3.5)  # past client_login_timeout: a probe still counted as a login would be logged now
        noise = pgb.log()[len(before):]
        assert noise == "", noise


def test_a_promotion_moves_the_new_primarys_wal_on() -> None:
    # Patroni runs the callback on every role change; the script acts only on a promotion.
    from components.postgres.names import ROLE_CHANGE_CALLBACK
    from components.postgres.render.patroni import patroni_config

    s = settings("lab")
    cfg = patroni_config(s, s.hosts["postgres"][0])
    assert cfg["postgresql"]["callbacks"] == {"on_role_change": ROLE_CHANGE_CALLBACK}  # type: ignore[index]
    script = (Path(__file__).parents[2] / "components/postgres/files/on-role-change.sh").read_text()
    assert script.count("pg_switch_wal()") == 1 and "for _ in 1 2" in script
    from components.postgres import plan

    step = plan.plan(s).step("db-1-postgres")
    assert step.files["on-role-change"] == script
