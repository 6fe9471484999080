"""The MariaDB backup and restore scripts, for real: a scratch MariaDB 10.11, mariadb-backup, the
real health check (behind a loopback socket, as systemd's Accept=yes runs it) and moto's S3 server
on loopback. A full backup, rows, an incremental, a restore of the chain into a new data directory
that a second scratch server starts on: every row is there. The designated-node rule: a node whose
address is not the first healthy one does nothing. Every process is started here and stopped by
its handle."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.mariadb import render
from components.mariadb.plan import FILES_DIR
from tests.unit.helpers import settings
from tests.unit.hostfiles import MARIADBD
from tests.unit.test_mariadb import HAS_MARIADB, sql

MOTO = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
pytestmark = pytest.mark.skipif(
    not (HAS_MARIADB and shutil.which("mariadb-backup") and shutil.which("mbstream") and shutil.which("s3cmd")
         and MOTO), reason="needs mariadb-server-core, mariadb-client-core, mariadb-backup, s3cmd, moto_server, root")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_mariadb(datadir: str, sock: str, base: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([MARIADBD, "--no-defaults", "--user=root", f"--datadir={datadir}", f"--socket={sock}",
                             "--skip-networking", f"--pid-file={base}/pid-{Path(datadir).name}",
                             f"--log-error={base}/err-{Path(datadir).name}.log", "--innodb-buffer-pool-size=32M"])
    deadline = time.time() + 60
    while time.time() < deadline and sql(sock, "SELECT 1").returncode != 0:
        time.sleep(0.2)
    assert sql(sock, "SELECT 1").returncode == 0, Path(f"{base}/err-{Path(datadir).name}.log").read_text()[-800:]
    return proc


class CheckServer:
    """The real mariadb-check.sh behind 127.0.0.1:port, one process per connection."""

    def __init__(self, sock: str) -> None:
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]
        self.sock = sock
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            with c:
                subprocess.run([str(FILES_DIR / "mariadb-check.sh")], stdin=c.fileno(), stdout=c.fileno(), timeout=20,
                               env={**os.environ, "SOCKET": self.sock, "GALERA": "0"})

    def close(self) -> None:
        self._stop = True
        self.srv.close()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    base = tempfile.mkdtemp(prefix="platform-mariadb-backup-")
    procs: list[subprocess.Popen[bytes]] = []
    check: CheckServer | None = None
    try:
        s = settings("lab", mariadb={"enabled": True})
        p = subprocess.run(["mariadb-install-db", "--no-defaults", "--user=root", f"--datadir={base}/data",
                            "--auth-root-authentication-method=socket"], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr[-800:]
        sock = f"{base}/sock"
        procs.append(_start_mariadb(f"{base}/data", sock, base))
        check = CheckServer(sock)
        s3_port = _free_port()
        procs.append(subprocess.Popen([str(MOTO), "-H", "127.0.0.1", "-p", str(s3_port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        endpoint = s.s3.endpoint.removeprefix("https://")
        s3cfg = (render.render_s3cfg(s).replace("{{secret:s3_access_key}}", "testing")
                 .replace("{{secret:s3_secret_key}}", "testing").replace("use_https = True", "use_https = False")
                 .replace(f"host_base = {endpoint}", f"host_base = 127.0.0.1:{s3_port}")
                 .replace(f"host_bucket = {endpoint}", f"host_bucket = 127.0.0.1:{s3_port}"))
        (tmp_path / "s3cfg").write_text(s3cfg)
        host = s.hosts["postgres"][0]
        benv = render.render_backup_env(s, host)
        # This machine plays the first node: its address is the loopback one, its check on `port`.
        benv = (benv.replace(f"HOST_IP={host.private_ip}", "HOST_IP=127.0.0.1")
                .replace(f"CHECK_PORT={9200}", f"CHECK_PORT={check.port}")
                .replace("S3CFG=/etc/mysql/platform/s3cfg", f"S3CFG={tmp_path}/s3cfg")
                .replace("SOCKET=/run/mysqld/mysqld.sock", f"SOCKET={sock}"))
        benv = "\n".join("NODES='127.0.0.1 127.0.0.2'" if ln.startswith("NODES=") else ln
                         for ln in benv.splitlines()) + "\n"
        (tmp_path / "backup.env").write_text(benv)
        deadline = time.time() + 20
        while time.time() < deadline and subprocess.run(
                ["s3cmd", "-c", str(tmp_path / "s3cfg"), "mb", f"s3://{s.s3.buckets.backups}"],
                capture_output=True).returncode != 0:
            time.sleep(0.3)
        (tmp_path / "state").mkdir()
        (tmp_path / "textfile").mkdir()
        yield {"BACKUP_ENV": str(tmp_path / "backup.env"), "STATE_DIR": str(tmp_path / "state"),
               "TEXTFILE_DIR": str(tmp_path / "textfile"), "SOCK": sock, "BASE": base,
               "S3CFG": str(tmp_path / "s3cfg"), "BUCKET": s.s3.buckets.backups}
    finally:
        if check is not None:
            check.close()
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def run(script: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(FILES_DIR / script), *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def test_full_incremental_restore(env: dict[str, str]) -> None:
    sock = env["SOCK"]
    assert sql(sock, "CREATE DATABASE mautic; CREATE TABLE mautic.t (id INT PRIMARY KEY, v VARCHAR(16)) "
                     "ENGINE=InnoDB; INSERT INTO mautic.t VALUES (1, 'before-full')").returncode == 0
    full = run("mariadb-backup.sh", "full", env=env)
    assert full.returncode == 0, full.stderr[-2000:]
    assert full.stdout.strip().endswith("-full.xb.gz")
    assert sql(sock, "INSERT INTO mautic.t VALUES (2, 'after-full'), (3, 'after-full')").returncode == 0
    incr = run("mariadb-backup.sh", "incr", env=env)
    assert incr.returncode == 0, incr.stderr[-2000:]
    assert incr.stdout.strip().endswith("-incr.xb.gz") and "/" + full.stdout.strip().rsplit("/", 2)[-2] + "/" in \
        incr.stdout, "the incremental continues the full backup's chain"
    assert (Path(env["TEXTFILE_DIR"]) / "platform_mariadb_backup_full.prom").exists()
    assert (Path(env["TEXTFILE_DIR"]) / "platform_mariadb_backup_incr.prom").exists()
    target = f"{env['BASE']}/restored"
    rest = run("mariadb-restore.sh", target, env=env)
    assert rest.returncode == 0, rest.stderr[-2000:]
    # A second server on the restored directory has every row (the incremental's too).
    sock2 = f"{env['BASE']}/sock2"
    proc = _start_mariadb(target, sock2, env["BASE"])
    try:
        rows = sql(sock2, "SELECT id, v FROM mautic.t ORDER BY id").stdout.split("\n")
        assert [r for r in rows if r] == ["1\tbefore-full", "2\tafter-full", "3\tafter-full"]
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_only_the_designated_node_backs_up(env: dict[str, str]) -> None:
    # The first healthy node in NODES is 127.0.0.1 (this one); as 127.0.0.2 it must do nothing.
    other = dict(env)
    text = Path(env["BACKUP_ENV"]).read_text().replace("HOST_IP=127.0.0.1", "HOST_IP=127.0.0.2")
    Path(env["BACKUP_ENV"] + ".other").write_text(text)
    other["BACKUP_ENV"] = env["BACKUP_ENV"] + ".other"
    p = run("mariadb-backup.sh", "full", env=other)
    assert p.returncode == 0 and "not this one: nothing to do" in p.stderr, p.stderr
    ls = subprocess.run(["s3cmd", "-c", env["S3CFG"], "ls", "--recursive", f"s3://{env['BUCKET']}/"],
                        capture_output=True, text=True, timeout=60)
    assert ".xb.gz" not in ls.stdout
    # An incremental without a chain on this node takes a full backup instead.
    p = run("mariadb-backup.sh", "incr", env=env)
    assert p.returncode == 0 and "taking a full backup instead" in p.stderr and p.stdout.strip().endswith(
        "-full.xb.gz"), p.stderr[-1500:]
