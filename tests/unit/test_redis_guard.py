"""The Redis start-up guard and the rendered configs, with real redis-server and redis-sentinel.

Three "hosts" on loopback addresses 127.0.0.2-4 (high ports, own temp dirs): two data nodes and
a Sentinel-only node, configured by the production renderers (only paths and ports differ).
The master is killed, Sentinel fails over, and the old master is started again through the
guard: it must come up as a replica and refuse a write on its very first accepted connection.
Every process is started here and killed by its PID in teardown. Skipped without the binaries
(apt-get install redis-server redis-sentinel redis-tools).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.redis import render
from components.settings import Host, Inventory, Settings
from tests.unit.helpers import settings as make_settings

ROOT = Path(__file__).resolve().parents[2]
GUARD = ROOT / "components/redis/files/redis-guard.sh"
BINARIES = ("redis-server", "redis-sentinel", "redis-cli")
needs_redis = pytest.mark.skipif(
    not all(shutil.which(b) for b in BINARIES), reason="redis-server/redis-sentinel/redis-cli missing"
)
IPS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
SECRET_RE = re.compile(r"\{\{secret:([A-Za-z0-9_.-]+)\}\}")


# --- helpers ------------------------------------------------------------------------------------


def resp(addr: tuple[str, int], *commands: list[str], timeout: float = 2.0,
         ctx: ssl.SSLContext | None = None) -> list[Any]:
    """Send commands on one connection; return the decoded replies (errors as Exception values)."""
    with socket.create_connection(addr, timeout=timeout) as raw:
        s = ctx.wrap_socket(raw, server_hostname=addr[0]) if ctx is not None else raw
        f = s.makefile("rb")
        out = []
        for cmd in commands:
            payload = f"*{len(cmd)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in cmd)
            s.sendall(payload.encode())
            out.append(_read(f))
        return out


def _read(f: Any) -> Any:
    line = f.readline()
    if not line:
        raise ConnectionError("closed")
    kind, rest = line[:1], line[1:-2].decode()
    if kind == b"+":
        return rest
    if kind == b"-":
        return Exception(rest)
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read(f) for _ in range(n)]
    raise ValueError(line)


def replicaof_lines(conf: str) -> list[str]:
    return re.findall(r"^(?:replicaof|slaveof) .*$", conf, re.M)


def substitute(text: str, secrets: dict[str, str]) -> str:
    return SECRET_RE.sub(lambda m: secrets[m.group(1)], text)


def free_port(start: int) -> int:
    for port in range(start, start + 2000):
        ok = True
        for ip in IPS:
            with socket.socket() as s:
                try:
                    s.bind((ip, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise RuntimeError("no free port")


def wait_for(what: str, predicate: Any, timeout: float, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, ConnectionError) as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def loopback_settings() -> Settings:
    base = make_settings("lab")
    hosts = tuple(
        Host(name=f"redis-{i + 1}", role="redis", public_ip=ip, private_ip=ip, host_key=None,
             memory_mb=512, cpus=1)
        for i, ip in enumerate(IPS)
    )
    redis = dataclasses.replace(base.redis, down_after_ms=1000, failover_timeout_ms=5000, quorum=2)
    return dataclasses.replace(base, hosts=Inventory(roles={**base.hosts.roles, "redis": hosts}), redis=redis)


SECRETS = {
    render.SECRET_ADMIN: "admin0pw0" * 3,
    render.SECRET_SENTINEL: "sentinel0pw" * 3,
    render.SECRET_EXPORTER: "exporter0pw" * 3,
    render.SECRET_HEALTHCHECK: "health0pw" * 3,
    render.SECRET_BACKUP: "backup0pw" * 3,
    render.app_secret("nextcloud"): "nextcloud0pw" * 3,
    render.app_secret("mautic"): "mautic0pw" * 3,
}


def make_certs(d: Path) -> None:
    """A throwaway CA and one certificate for the loopback "hosts" (ca.crt, redis.crt, redis.key)."""
    d.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run = lambda *a: subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=test-ca", "-days", "1")
    run("req", *ec, "-keyout", "redis.key", "-out", "redis.csr", "-subj", "/CN=redis")
    (d / "ext").write_text("subjectAltName=" + ",".join(f"IP:{ip}" for ip in (*IPS, "127.0.0.1")) + "\n")
    run("x509", "-req", "-in", "redis.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "redis.crt", "-days", "1", "-extfile", "ext")


class Cluster:
    def __init__(self, tmp: Path, tls: bool = False) -> None:
        self.tmp = tmp
        self.settings = loopback_settings()
        self.tls = tls
        self.ctx: ssl.SSLContext | None = None
        if tls:
            make_certs(tmp / "tls")
            self.settings = dataclasses.replace(
                self.settings, redis=dataclasses.replace(self.settings.redis, tls=True))
            self.ctx = ssl.create_default_context(cafile=str(tmp / "tls" / "ca.crt"))
        self.redis_port = free_port(21379)
        self.sentinel_port = free_port(self.redis_port + 1 + (self.redis_port % 7))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.timings: dict[str, float] = {}

    def layout(self, i: int) -> render.Layout:
        d = self.tmp / f"node{i + 1}"
        (d / "data").mkdir(parents=True, exist_ok=True)
        return render.Layout(redis_port=self.redis_port, sentinel_port=self.sentinel_port,
                             conf_dir=str(d), data_dir=str(d / "data"), log_dir=str(d),
                             redis_pidfile=str(d / "redis.pid"), sentinel_pidfile=str(d / "sentinel.pid"),
                             supervised=False, tls_dir=str(self.tmp / "tls"))

    def resp(self, addr: tuple[str, int], *commands: list[str], timeout: float = 2.0) -> list[Any]:
        return resp(addr, *commands, timeout=timeout, ctx=self.ctx)

    def host(self, i: int) -> Host:
        return self.settings.hosts["redis"][i]

    def redis_addr(self, i: int) -> tuple[str, int]:
        return (IPS[i], self.redis_port)

    def sentinel_addr(self, i: int) -> tuple[str, int]:
        return (IPS[i], self.sentinel_port)

    def write_configs(self, i: int) -> None:
        lay, h = self.layout(i), self.host(i)
        d = Path(lay.conf_dir)
        rendered = {
            "redis.conf": render.render_redis_conf(self.settings, h, lay),
            "guard.env": render.render_guard_env(self.settings, h, lay),
        }
        for name, text in rendered.items():
            for value in SECRETS.values():
                assert value not in text
            (d / name).write_text(substitute(text, SECRETS))

    def write_sentinel_conf(self, i: int) -> None:
        lay, h = self.layout(i), self.host(i)
        text = render.render_sentinel_conf(self.settings, h, lay)
        (Path(lay.conf_dir) / "sentinel.conf").write_text(substitute(text, SECRETS))

    def guard(self, i: int) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, GUARD_ENV=str(Path(self.layout(i).conf_dir) / "guard.env"))
        t0 = time.monotonic()
        proc = subprocess.run(["bash", str(GUARD)], env=env, capture_output=True, text=True, timeout=90)
        self.timings[f"guard-node{i + 1}-{len(self.timings)}"] = round(time.monotonic() - t0, 2)
        assert proc.returncode == 0, proc.stderr
        return proc

    def start_redis(self, i: int) -> None:
        conf = Path(self.layout(i).conf_dir) / "redis.conf"
        self.procs[f"redis{i}"] = subprocess.Popen(["redis-server", str(conf)], stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL)

    def start_sentinel(self, i: int) -> None:
        conf = Path(self.layout(i).conf_dir) / "sentinel.conf"
        self.procs[f"sentinel{i}"] = subprocess.Popen(["redis-sentinel", str(conf)], stdout=subprocess.DEVNULL,
                                                      stderr=subprocess.DEVNULL)

    def start_router(self) -> tuple[str, int]:
        """HAProxy with the rendered router section, pointed at the loopback nodes."""
        port = free_port(self.sentinel_port + 100)
        section = substitute(render.router_section(self.settings), SECRETS)
        section = section.replace(f"bind :{render.ROUTER_PORT}", f"bind 127.0.0.1:{port}")
        section = section.replace(f":{render.REDIS_PORT} check", f":{self.redis_port} check")
        section = section.replace("/etc/haproxy/platform-ca.pem", str(self.tmp / "tls" / "ca.crt"))
        cfg = self.tmp / "haproxy.cfg"
        cfg.write_text("global\n    maxconn 100\n\ndefaults\n    mode tcp\n    timeout connect 1s\n"
                       "    timeout client 30s\n    timeout server 30s\n\n" + section)
        self.procs["haproxy"] = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                                                 stderr=subprocess.DEVNULL)
        return ("127.0.0.1", port)

    def start_exporters(self) -> tuple[tuple[str, int], tuple[str, int]]:
        web = free_port(self.sentinel_port + 200)
        env = dict(os.environ, REDIS_PASSWORD=SECRETS[render.SECRET_EXPORTER])
        log_r, log_s = (open(self.tmp / n, "wb") for n in ("exporter.log", "sentinel-exporter.log"))  # noqa: SIM115
        scheme = "rediss" if self.tls else "redis"
        tls = [f"--tls-ca-cert-file={self.tmp}/tls/ca.crt"] if self.tls else []
        self.procs["exporter"] = subprocess.Popen(
            ["prometheus-redis-exporter", f"--redis.addr={scheme}://{IPS[0]}:{self.redis_port}",
             "--redis.user=exporter", f"--web.listen-address=127.0.0.1:{web}", "--redis-only-metrics", *tls],
            env=env, stdout=log_r, stderr=log_r)
        self.procs["sentinel-exporter"] = subprocess.Popen(
            ["prometheus-redis-exporter", f"--redis.addr={scheme}://{IPS[0]}:{self.sentinel_port}",
             f"--web.listen-address=127.0.0.1:{web + 1}", "--redis-only-metrics", *tls],
            stdout=log_s, stderr=log_s)
        return ("127.0.0.1", web), ("127.0.0.1", web + 1)

    def kill(self, key: str) -> None:
        p = self.procs.pop(key, None)
        if p is not None and p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(timeout=10)

    def admin(self, i: int, *cmd: str) -> Any:
        (_, reply) = self.resp(self.redis_addr(i), ["AUTH", SECRETS[render.SECRET_ADMIN]], list(cmd))
        return reply

    def sentinel_master(self, i: int) -> str:
        reply = self.resp(self.sentinel_addr(i), ["SENTINEL", "GET-MASTER-ADDR-BY-NAME",
                                             self.settings.redis.master_name])[0]
        return f"{reply[0]}:{reply[1]}" if isinstance(reply, list) else ""


@pytest.fixture(params=[False, True], ids=["plain", "tls"])
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    if request.param and not shutil.which("openssl"):
        pytest.skip("openssl missing")
    c = Cluster(tmp_path, tls=request.param)
    try:
        yield c
    finally:
        for key in list(c.procs):
            c.kill(key)


# --- the failover test --------------------------------------------------------------------------


@needs_redis
def test_former_master_restarts_as_replica_and_refuses_writes(cluster: Cluster) -> None:
    c = cluster
    port = c.redis_port
    for i in (0, 1, 2):
        c.write_configs(i)  # node 3 is Sentinel-only: its redis.conf is never used
    # First boot: no Sentinel runs yet, so the guard falls back to the initial master (node 1).
    assert "initial master" in c.guard(0).stderr
    assert not replicaof_lines((Path(c.layout(0).conf_dir) / "redis.conf").read_text())
    c.start_redis(0)
    wait_for("node 1 up", lambda: c.admin(0, "PING") == "PONG", 10)
    c.guard(1)
    assert f"replicaof {IPS[0]} {port}" in (Path(c.layout(1).conf_dir) / "redis.conf").read_text()
    c.start_redis(1)
    wait_for("replication", lambda: "master_link_status:up" in c.admin(1, "INFO", "replication"), 15)
    for i in (0, 1, 2):
        c.write_sentinel_conf(i)
        c.start_sentinel(i)
    name = c.settings.redis.master_name
    wait_for("Sentinels see each other and the replica", lambda: all(
        c.resp(c.sentinel_addr(i), ["SENTINEL", "CKQUORUM", name])[0] == "OK 3 usable Sentinels. "
        "Quorum and failover authorization can be reached" for i in (0, 1, 2)), 20, 0.3)

    # ACL users from the renderer work as intended.
    nc = ["AUTH", "nextcloud", SECRETS[render.app_secret("nextcloud")]]
    replies = c.resp(c.redis_addr(0), nc, ["SET", "nextcloud:k", "v"], ["SET", "mautic:k", "v"],
                   ["FLUSHALL"], ["INFO", "replication"])
    assert replies[0] == "OK" and replies[1] == "OK"
    assert isinstance(replies[2], Exception) and "NOPERM" in str(replies[2])
    assert isinstance(replies[3], Exception) and "NOPERM" in str(replies[3])
    assert "role:master" in replies[4]
    hc = c.resp(c.redis_addr(0), ["AUTH", "healthcheck", SECRETS[render.SECRET_HEALTHCHECK]],
              ["PING"], ["INFO", "replication"], ["GET", "nextcloud:k"])
    assert hc[:2] == ["OK", "PONG"] and "role:master" in hc[2] and isinstance(hc[3], Exception)
    ex = c.resp(c.redis_addr(0), ["AUTH", "exporter", SECRETS[render.SECRET_EXPORTER]],
              ["INFO"], ["CONFIG", "GET", "maxmemory"], ["SLOWLOG", "GET", "1"], ["GET", "nextcloud:k"])
    assert ex[0] == "OK" and "redis_version" in ex[1] and ex[2][0] == "maxmemory"
    assert isinstance(ex[3], list) and isinstance(ex[4], Exception)
    bk = c.resp(c.redis_addr(0), ["AUTH", "backup", SECRETS[render.SECRET_BACKUP]], ["ROLE"], ["LASTSAVE"],
              ["SET", "x", "1"])
    assert bk[0] == "OK" and bk[1][0] == "master" and isinstance(bk[2], int) and isinstance(bk[3], Exception)
    assert c.admin(0, "CONFIG", "GET", "appendonly")[1] == "yes"
    assert c.admin(0, "CONFIG", "GET", "maxmemory")[1] == str(c.settings.redis.maxmemory_mb * 1024 * 1024)
    for i in range(20):
        assert c.admin(0, "SET", f"nextcloud:before:{i}", str(i)) == "OK"
    assert c.admin(0, "WAIT", "1", "2000") == 1

    # The router routes to the master only.
    router = c.start_router() if shutil.which("haproxy") else None
    if router is not None:
        wait_for("router -> master", lambda: c.resp(router, ["AUTH", SECRETS[render.SECRET_ADMIN]], ["ROLE"],
                                                  timeout=1)[1][0] == "master", 10)
        assert c.resp(router, ["AUTH", SECRETS[render.SECRET_ADMIN]], ["INFO", "replication"])[1].count(
            f"slave0:ip={IPS[1]}") == 1

    # redis_exporter with the rendered ACL user, and in Sentinel mode.
    if shutil.which("prometheus-redis-exporter") and shutil.which("curl"):
        web_r, web_s = c.start_exporters()

        def metrics(addr: tuple[str, int]) -> str:
            return subprocess.run(["curl", "-sf", f"http://{addr[0]}:{addr[1]}/metrics"], capture_output=True,
                                  text=True, timeout=10).stdout

        wait_for("exporter", lambda: "redis_up 1" in metrics(web_r), 10, 0.3)
        assert "redis_connected_slaves 1" in metrics(web_r)
        wait_for("sentinel exporter", lambda: "redis_sentinel_masters 1" in metrics(web_s), 10, 0.3)
        c.kill("exporter")
        c.kill("sentinel-exporter")
        assert "NOPERM" not in (c.tmp / "exporter.log").read_text()

    # The master dies; the Sentinels promote node 2.
    t0 = time.monotonic()
    c.kill("redis0")
    new_master = f"{IPS[1]}:{port}"
    wait_for("failover", lambda: all(c.sentinel_master(i) == new_master for i in (0, 1, 2)), 30, 0.1)
    c.timings["failover"] = round(time.monotonic() - t0, 2)
    assert c.admin(1, "SET", "nextcloud:after", "1") == "OK"
    if router is not None:
        def write_via_router() -> bool:
            r = c.resp(router, ["AUTH", "nextcloud", SECRETS[render.app_secret("nextcloud")]],
                     ["SET", "nextcloud:via-router", "1"], timeout=1)
            return r[1] == "OK"
        wait_for("router -> new master", write_via_router, 10, 0.05)
        c.timings["failover-via-router"] = round(time.monotonic() - t0, 2)

    # The old master restarts through the guard: a replica from its first accepted connection.
    out = c.guard(0)
    assert f"master {new_master}" in out.stderr
    conf = (Path(c.layout(0).conf_dir) / "redis.conf").read_text()
    assert replicaof_lines(conf) == [f"replicaof {IPS[1]} {port}"]
    t1 = time.monotonic()
    c.start_redis(0)
    first: list[Any] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not first:
        try:
            first = c.resp(c.redis_addr(0), ["AUTH", "nextcloud", SECRETS[render.app_secret("nextcloud")]],
                         ["SET", "nextcloud:stale", "1"], timeout=1)
        except (OSError, ConnectionError):
            time.sleep(0.005)
    c.timings["restart-to-first-connection"] = round(time.monotonic() - t1, 3)
    assert first, "the old master never accepted a connection"
    assert isinstance(first[1], Exception) and str(first[1]).startswith("READONLY"), first
    assert c.admin(0, "ROLE")[0] == "slave"
    # Bounded generously: a full resync waits repl-diskless-sync-delay (5 s) and the machine may be
    # busy (in CI the lab is still running); READONLY and the role were asserted above already.
    wait_for("old master syncs from the new one",
             lambda: "master_link_status:up" in c.admin(0, "INFO", "replication"), 45)
    assert c.admin(0, "GET", "nextcloud:after") == "1"
    assert c.admin(0, "GET", "nextcloud:before:19") == "19"
    assert c.admin(1, "EXISTS", "nextcloud:stale") == 0
    # Sentinel rewrote its config with the new master; the guard's fallback reads exactly that.
    sconf = (Path(c.layout(0).conf_dir) / "sentinel.conf").read_text()
    assert f"sentinel monitor {c.settings.redis.master_name} {IPS[1]} {port} 2" in sconf
    if router is not None:
        # The returning old master is a replica: the router keeps sending everything to node 2.
        for _ in range(10):
            role = c.resp(router, ["AUTH", SECRETS[render.SECRET_ADMIN]], ["INFO", "replication"])[1]
            assert "role:master" in role and f"slave0:ip={IPS[0]}" in role
            time.sleep(0.2)
    # A changed rendering reaches a Sentinel without losing what it learned (sentinel.sh's merge).
    live = Path(c.layout(2).conf_dir) / "sentinel.conf"
    before = live.read_text()
    assert before.startswith("# Rendered by the platform program")  # Sentinel keeps our header
    myid = re.search(r"^sentinel myid (\S+)$", before, re.M)
    assert myid
    changed = dataclasses.replace(c.settings, redis=dataclasses.replace(c.settings.redis, down_after_ms=1500))
    rendered = c.tmp / "sentinel.rendered"
    rendered.write_text(substitute(render.render_sentinel_conf(changed, c.host(2), c.layout(2)), SECRETS))
    merged = subprocess.run(["perl", str(ROOT / "components/redis/files/sentinel-merge.pl"), name, str(rendered),
                             str(live)], capture_output=True, text=True, check=True).stdout
    assert f"sentinel monitor {name} {IPS[1]} {port} 2" in merged.splitlines()
    assert f"sentinel down-after-milliseconds {name} 1500" in merged.splitlines()
    assert f"sentinel myid {myid.group(1)}" in merged.splitlines()
    assert re.search(r"^sentinel current-epoch [1-9]", merged, re.M)
    assert len(re.findall(rf"^sentinel known-sentinel {name} ", merged, re.M)) == 2
    c.kill("sentinel2")
    live.write_text(merged)
    c.start_sentinel(2)
    wait_for("restarted Sentinel knows the new master", lambda: c.sentinel_master(2) == new_master, 10)
    reply = c.resp(c.sentinel_addr(2), ["SENTINEL", "MASTER", name])[0]
    fields = dict(zip(reply[::2], reply[1::2], strict=True))
    assert fields["down-after-milliseconds"] == "1500" and int(fields["config-epoch"]) >= 1
    wait_for("quorum after the restart", lambda: c.resp(c.sentinel_addr(2), ["SENTINEL", "CKQUORUM", name])[0]
             .startswith("OK 3 usable"), 10, 0.3)
    print("timings:", c.timings)


# --- the guard's decisions against fake Sentinels -----------------------------------------------


class FakeSentinel(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, addr: tuple[str, int], answer: dict[str, str] | str | None) -> None:
        self.answer = answer
        super().__init__(addr, FakeHandler)


class FakeHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        if self.server.answer == "hang":  # type: ignore[attr-defined]
            time.sleep(5)
            return
        try:
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                n = int(line[1:])
                for _ in range(n):
                    size = int(self.rfile.readline()[1:])
                    self.rfile.read(size + 2)
                answer = self.server.answer  # type: ignore[attr-defined]
                if answer is None:
                    self.wfile.write(b"-ERR No such master with that name\r\n")
                    continue
                assert isinstance(answer, dict)
                flat = [x for kv in answer.items() for x in kv]
                self.wfile.write(f"*{len(flat)}\r\n".encode()
                                 + b"".join(f"${len(x)}\r\n{x}\r\n".encode() for x in flat))
        except (OSError, ValueError):
            return


def master_answer(ip: str, port: int, epoch: int, flags: str = "master", slaves: int = 1) -> dict[str, str]:
    return {"name": "platform", "ip": ip, "port": str(port), "flags": flags,
            "num-slaves": str(slaves), "config-epoch": str(epoch)}


def run_guard(tmp: Path, self_ip: str, sentinels: list[str], initial: str, port: int,
              local_sentinel_conf: str = "", wait: int = 3) -> tuple[str, str]:
    conf = tmp / "redis.conf"
    conf.write_text("port 1\nreplicaof 10.9.9.9 6379\nslaveof 10.9.9.8 6379\n")
    env_file = tmp / "guard.env"
    lsc = tmp / "sentinel.conf"
    lsc.write_text(local_sentinel_conf)
    env_file.write_text(
        f"MASTER_NAME=platform\nSELF_IP={self_ip}\nSELF_PORT={port}\nINITIAL_MASTER={initial}\n"
        f"SENTINELS='{' '.join(sentinels)}'\nREDIS_CONF={conf}\nLOCAL_SENTINEL_CONF={lsc}\n"
        f"QUERY_TIMEOUT=2\nFAILOVER_WAIT={wait}\nCLI_TLS_ARGS=\n")
    proc = subprocess.run(["bash", str(GUARD)], env=dict(os.environ, GUARD_ENV=str(env_file)),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return conf.read_text(), proc.stderr


@pytest.fixture
def fakes() -> Iterator[list[FakeSentinel]]:
    servers: list[FakeSentinel] = []
    for ip in IPS:
        srv = FakeSentinel((ip, 0), None)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    try:
        yield servers
    finally:
        for srv in servers:
            srv.shutdown()
            srv.server_close()


def addrs(servers: list[FakeSentinel]) -> list[str]:
    return [f"{s.server_address[0]!s}:{s.server_address[1]}" for s in servers]


@needs_redis
def test_guard_no_sentinel_first_boot(tmp_path: Path) -> None:
    dead = [f"{ip}:{free_port(31000)}" for ip in IPS]
    conf, _ = run_guard(tmp_path, "10.0.0.1", dead, "10.0.0.1:6379", 6379)
    assert "replicaof" not in conf and "slaveof" not in conf and conf.startswith("port 1\n")
    conf, _ = run_guard(tmp_path, "10.0.0.2", dead, "10.0.0.1:6379", 6379)
    assert conf.endswith("replicaof 10.0.0.1 6379\n") and conf.count("replicaof") == 1


@needs_redis
def test_guard_no_sentinel_uses_local_sentinels_last_known_master(tmp_path: Path) -> None:
    dead = [f"{IPS[0]}:{free_port(31000)}"]
    local = "port 26379\nsentinel monitor other 10.0.0.7 6379 2\nsentinel monitor platform 10.0.0.2 6379 2\n"
    conf, err = run_guard(tmp_path, "10.0.0.1", dead, "10.0.0.1:6379", 6379, local)
    assert conf.endswith("replicaof 10.0.0.2 6379\n"), err


@needs_redis
def test_guard_highest_epoch_wins_over_majority(tmp_path: Path, fakes: list[FakeSentinel]) -> None:
    fakes[0].answer = master_answer("10.0.0.1", 6379, 3)
    fakes[1].answer = master_answer("10.0.0.2", 6379, 4)
    fakes[2].answer = master_answer("10.0.0.1", 6379, 3)
    conf, _ = run_guard(tmp_path, "10.0.0.1", addrs(fakes), "10.0.0.1:6379", 6379)
    assert conf.endswith("replicaof 10.0.0.2 6379\n")


@needs_redis
def test_guard_majority_among_equal_epochs(tmp_path: Path, fakes: list[FakeSentinel]) -> None:
    fakes[0].answer = master_answer("10.0.0.2", 6379, 5)
    fakes[1].answer = master_answer("10.0.0.1", 6379, 5)
    fakes[2].answer = master_answer("10.0.0.2", 6379, 5)
    conf, _ = run_guard(tmp_path, "10.0.0.2", addrs(fakes), "10.0.0.1:6379", 6379)
    assert "replicaof" not in conf  # this node is the master the majority names
    fakes[2].answer = None  # a Sentinel that does not know the master is ignored
    conf, _ = run_guard(tmp_path, "10.0.0.3", addrs(fakes[1:]), "10.0.0.1:6379", 6379)
    assert conf.endswith("replicaof 10.0.0.1 6379\n")


@needs_redis
def test_guard_waits_while_sentinels_fail_over_away_from_it(tmp_path: Path, fakes: list[FakeSentinel]) -> None:
    for f in fakes:
        f.answer = master_answer("10.0.0.1", 6379, 1, "master,s_down,o_down,failover_in_progress")

    def promote() -> None:
        time.sleep(1.5)
        for f in fakes:
            f.answer = master_answer("10.0.0.2", 6379, 2)

    threading.Thread(target=promote, daemon=True).start()
    t0 = time.monotonic()
    conf, err = run_guard(tmp_path, "10.0.0.1", addrs(fakes), "10.0.0.1:6379", 6379, wait=10)
    assert conf.endswith("replicaof 10.0.0.2 6379\n"), err
    assert 1.0 < time.monotonic() - t0 < 8


@needs_redis
def test_guard_single_node_does_not_wait_for_an_impossible_failover(tmp_path: Path,
                                                                    fakes: list[FakeSentinel]) -> None:
    fakes[0].answer = master_answer("10.0.0.1", 6379, 0, "master,s_down,o_down", slaves=0)
    t0 = time.monotonic()
    conf, _ = run_guard(tmp_path, "10.0.0.1", addrs(fakes[:1]), "10.0.0.1:6379", 6379, wait=10)
    assert "replicaof" not in conf and time.monotonic() - t0 < 3


@needs_redis
def test_guard_asks_all_sentinels_at_once_with_a_bounded_timeout(tmp_path: Path, fakes: list[FakeSentinel]) -> None:
    fakes[0].answer = "hang"
    fakes[1].answer = "hang"
    fakes[2].answer = master_answer("10.0.0.2", 6379, 7)
    t0 = time.monotonic()
    conf, err = run_guard(tmp_path, "10.0.0.1", addrs(fakes), "10.0.0.1:6379", 6379)
    elapsed = time.monotonic() - t0
    assert conf.endswith("replicaof 10.0.0.2 6379\n"), err
    assert "1 Sentinel(s) answered" in err
    assert elapsed < 3.5, elapsed  # QUERY_TIMEOUT is 2 s; sequential asking would take over 4 s


@needs_redis
def test_guard_waits_when_silent_nearly_down_after(tmp_path: Path, fakes: list[FakeSentinel]) -> None:
    """A quick reboot of the master: the Sentinels still name it (not yet s_down) but have had no
    PING reply for nearly down-after-milliseconds, so they may fail over while it starts: wait."""
    for f in fakes:
        f.answer = {**master_answer("10.0.0.1", 6379, 1, "master,disconnected"),
                    "last-ok-ping-reply": "4300", "down-after-milliseconds": "5000"}

    def promote() -> None:
        time.sleep(1.5)
        for f in fakes:
            f.answer = master_answer("10.0.0.2", 6379, 2)

    threading.Thread(target=promote, daemon=True).start()
    conf, err = run_guard(tmp_path, "10.0.0.1", addrs(fakes), "10.0.0.1:6379", 6379, wait=10)
    assert conf.endswith("replicaof 10.0.0.2 6379\n"), err


@needs_redis
def test_guard_planned_restart_of_the_master_stays_master(tmp_path: Path, fakes: list[FakeSentinel]) -> None:
    for f in fakes:
        f.answer = {**master_answer("10.0.0.1", 6379, 1, "master,disconnected"),
                    "last-ok-ping-reply": "600", "down-after-milliseconds": "5000"}
    t0 = time.monotonic()
    conf, err = run_guard(tmp_path, "10.0.0.1", addrs(fakes), "10.0.0.1:6379", 6379, wait=10)
    assert "replicaof" not in conf and time.monotonic() - t0 < 3, err
