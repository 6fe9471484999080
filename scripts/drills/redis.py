"""Redis drills on the lab (issue 5): redis-master-death, redis-master-return, redis-restore.

Run with `scripts/drill NAME --stack lab [--runs N]` (scripts/drill.py: one JSON line per run, a
summary line last, exit 1 when not passed). Each run leaves the lab as it found it: hosts up, the
old master rejoined as a replica, and the master of before master again.

Clients. The lab firewall admits Redis (6379) and Sentinel (26379) only from Redis VMs, router
hosts and K3s nodes, and the router's listener from the admins (this machine). So the
Sentinel-aware client and the probes run from this machine inside the network namespace of the
Sentinel-only Redis VM (never killed by a drill) - the same address the VM has - while the router
client runs here, as an admin. Clients are redis-py (.venv) in subprocesses that print one JSON
event per line; credentials reach them on stdin, never on a command line.

Acknowledged write: `SET` answered OK *and* `WAIT 1 <ms>` confirmed one replica (always with a
timeout: WAIT without a replica blocks forever). Writes answered OK but not confirmed by a
replica are counted apart (`unacked_*`): asynchronous replication may lose them in a failover.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.drills.common import DrillError, Lab, drill, log  # noqa: E402

WRITE_INTERVAL = 0.05
WAIT_MS = 100
TARGET_SENTINEL_S = 5.0
TARGET_ROUTER_S = 7.0
RECOVERY_TIMEOUT = 60.0
REJOIN_TIMEOUT = 180.0
RESTORE_PORT = 6390
RESTORE_SEED_KEYS = 1000
TRACE: str | None = os.environ.get("REDIS_DRILL_TRACE")  # a JSONL file for every client event

# --------------------------------------------------------------------------------------------------
# client subprocess (runs in a network namespace or here; reads its config as JSON on stdin)
# --------------------------------------------------------------------------------------------------


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _client(cfg: dict[str, Any]) -> Any:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    common = dict(username=cfg["user"], password=cfg["password"], socket_timeout=0.5,
                  socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0), lib_name=None, lib_version=None)
    if cfg["mode"] == "sentinel":
        from redis.sentinel import Sentinel

        sentinels = [(a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])) for a in cfg["sentinels"]]
        # No retries towards a Sentinel either: redis-py's default (3, exponential backoff) spends
        # seconds on a dead Sentinel before asking the next one.
        s = Sentinel(sentinels, sentinel_kwargs={"socket_timeout": 0.5, "socket_connect_timeout": 0.5,
                                                 "retry": Retry(NoBackoff(), 0)})
        return s.master_for(cfg["master_name"], **common)
    host, port = cfg["address"].rsplit(":", 1)
    return redis.Redis(host=host, port=int(port), **common)


def _writer(cfg: dict[str, Any], stop: threading.Event) -> None:
    """Write every `interval` s: SET key EX + WAIT 1 <ms>; one event per attempt. After `stop`:
    check every key answered OK on the current master (through the same path), then delete them."""
    import redis

    c = _client(cfg)
    prefix = cfg["prefix"]
    seq = 0
    oks: dict[int, bool] = {}  # seq -> acknowledged by a replica
    while not stop.is_set():
        seq += 1
        key = f"{prefix}{seq}"
        t = time.time()
        try:
            p = c.pipeline(transaction=False)
            p.set(key, str(t), ex=86400)
            p.execute_command("WAIT", 1, cfg.get("wait_ms", WAIT_MS))
            res = p.execute()
            acked = bool(res[0]) and int(res[1]) >= 1
            oks[seq] = acked
            _emit({"ev": "w", "seq": seq, "t": t, "t_end": time.time(), "ok": True, "acked": acked})
        except (redis.RedisError, OSError) as e:
            _emit({"ev": "w", "seq": seq, "t": t, "t_end": time.time(), "ok": False,
                   "err": f"{type(e).__name__}: {str(e)[:80]}"})
        time.sleep(max(0.0, cfg.get("interval", WRITE_INTERVAL) - (time.time() - t)))
    # Check: every key answered OK must be on the master the path leads to now.
    deadline = time.time() + 30
    last_err = ""
    while True:
        try:
            seqs = sorted(oks)
            present: dict[int, bool] = {}
            for i in range(0, len(seqs), 500):
                chunk = seqs[i:i + 500]
                p = c.pipeline(transaction=False)
                for s in chunk:
                    p.exists(f"{prefix}{s}")
                for s, n in zip(chunk, p.execute(), strict=True):
                    present[s] = bool(n)
            lost_acked = [s for s in seqs if oks[s] and not present[s]]
            lost_unacked = [s for s in seqs if not oks[s] and not present[s]]
            _emit({"ev": "check", "ok_writes": len(seqs), "acked": sum(oks.values()),
                   "acked_lost": len(lost_acked), "unacked_lost": len(lost_unacked),
                   "acked_lost_seqs": lost_acked[:20], "unacked_lost_seqs": lost_unacked[:20]})
            break
        except (redis.RedisError, OSError) as e:
            last_err = f"{type(e).__name__}: {e}"
            if time.time() > deadline:
                _emit({"ev": "check", "error": last_err})
                return
            time.sleep(0.5)
    try:
        keys = [f"{prefix}{s}" for s in range(1, seq + 1)]
        for i in range(0, len(keys), 500):
            c.delete(*keys[i:i + 500])
    except (redis.RedisError, OSError):
        pass


def _prober(cfg: dict[str, Any], stop: threading.Event) -> None:
    """Probe one Redis address (the returning former master) as fast as possible: a fresh
    connection each time, SET first (a write accepted by it is the failure we look for), then
    INFO replication. Events: conn false (port closed), or set ok|readonly|loading|err + role/link."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    host, port = cfg["address"].rsplit(":", 1)
    seq = 0
    last = None
    counts: dict[str, int] = {}
    while not stop.is_set():
        seq += 1
        t = time.time()
        ev: dict[str, Any] = {"ev": "p", "seq": seq, "t": t}
        r = redis.Redis(host=host, port=int(port), username=cfg["user"], password=cfg["password"],
                        socket_timeout=1, socket_connect_timeout=0.3, retry=Retry(NoBackoff(), 0),
                        lib_name=None, lib_version=None)
        try:
            try:
                r.set(f"{cfg['prefix']}{seq}", "stale-write-probe", ex=3600)
                ev["set"] = "ok"
            except redis.ReadOnlyError:
                ev["set"] = "readonly"
            except redis.BusyLoadingError:
                ev["set"] = "loading"
            except redis.ResponseError as e:
                ev["set"] = f"err: {str(e)[:60]}"
            ev["conn"] = True
            try:
                info = r.info("replication")
                ev["role"] = info.get("role")
                ev["link"] = info.get("master_link_status")
                ev["master_host"] = info.get("master_host")
            except redis.RedisError as e:
                ev["info_err"] = str(e)[:60]
        except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
            ev["conn"] = False
            ev["err"] = type(e).__name__
        except redis.RedisError as e:
            ev["conn"] = True
            ev["set"] = f"err: {str(e)[:60]}"
        finally:
            try:
                r.close()
            except Exception:  # noqa: BLE001 - closing a dead connection
                pass
        # Only changes are interesting while the port stays closed (a probe every 20 ms).
        outcome = str(ev.get("set")) if ev.get("conn") else "closed"
        counts[outcome] = counts.get(outcome, 0) + 1
        sig = (ev.get("conn"), ev.get("set"), ev.get("role"), ev.get("link"))
        if sig != last or ev.get("set") == "ok":
            _emit(ev)
            last = sig
        time.sleep(max(0.0, 0.02 - (time.time() - t)))
    _emit({"ev": "probe_end", "probes": seq, "outcomes": counts})


def client_main() -> int:
    """Entry of a client subprocess: config JSON on the first stdin line, 'stop' on the next."""
    cfg = json.loads(sys.stdin.readline())
    stop = threading.Event()

    def wait_stop() -> None:
        sys.stdin.readline()
        stop.set()

    threading.Thread(target=wait_stop, daemon=True).start()
    _emit({"ev": "start", "mode": cfg["mode"], "t": time.time()})
    if cfg["mode"] == "probe":
        _prober(cfg, stop)
    else:
        _writer(cfg, stop)
    _emit({"ev": "done"})
    return 0


# --------------------------------------------------------------------------------------------------
# the drill side
# --------------------------------------------------------------------------------------------------


class Client:
    """A client subprocess and its events (read by a thread)."""

    def __init__(self, cfg: dict[str, Any], netns: str | None) -> None:
        argv = [str(ROOT / ".venv" / "bin" / "python"), "-c",
                "import sys; from scripts.drills.redis import client_main; sys.exit(client_main())"]
        if not Path(argv[0]).exists():
            argv[0] = sys.executable
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.events: list[dict[str, Any]] = []
        self.stderr = ""
        self.q: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cfg) + "\n")
        self.proc.stdin.flush()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.events.append(ev)
            self.q.put(ev)

    def snapshot(self, kind: str = "w") -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e.get("ev") == kind]

    def dump(self, path: str | None, label: str) -> None:
        """Append every event to a JSONL trace file (--trace)."""
        if not path:
            return
        with self._lock, open(path, "a") as f:
            for e in self.events:
                f.write(json.dumps({"client": label, **e}) + "\n")

    def stop(self, timeout: float = 60) -> dict[str, Any]:
        """Stop writing; returns the check event (or {} when there is none)."""
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        time.sleep(0.1)
        self.stderr = (self.proc.stderr.read() if self.proc.stderr else "")[-2000:]
        checks = self.snapshot("check")
        return checks[-1] if checks else {"error": self.stderr[-300:] or f"exit {self.proc.returncode}"}


def recovery(events: list[dict[str, Any]], t0: float) -> tuple[float | None, int]:
    """Seconds from t0 until writes succeeded again: the end of the first OK write that started
    after the first failed one (0 when no write failed). Also: failed attempts after t0."""
    after = [e for e in events if e["t_end"] >= t0]
    fails = [e for e in after if not e["ok"]]
    if not fails:
        ok = [e for e in after if e["ok"]]
        return (0.0 if ok else None), 0
    first_fail = fails[0]
    for e in after:
        if e["ok"] and e["t"] >= first_fail["t_end"]:
            return round(e["t_end"] - t0, 2), len(fails)
    return None, len(fails)


class RedisLab:
    """The stack as the Redis drills see it: settings, outputs, SSH (a verify Context), lab hosts."""

    def __init__(self, ctx: Any) -> None:
        from components.redis import render

        self.ctx = ctx
        self.render = render
        self.s = self.ctx.settings
        self.name = self.s.redis.master_name
        self.data = {f"{h.private_ip}:{render.REDIS_PORT}": h for h in render.data_hosts(self.s)}
        sentinel_only = [h for h in render.sentinel_hosts(self.s) if h not in render.data_hosts(self.s)]
        self.client_host = (sentinel_only or list(render.sentinel_hosts(self.s)))[0]
        self.sentinels = list(self.ctx.outputs.get("redisSentinels") or render.sentinel_addresses(self.s))
        self.router = self.ctx.outputs.get("redisRouter") or render.router_endpoint(self.s)
        apps = self.ctx.outputs.get("redisApps") or {}
        if not apps:
            raise DrillError("the lab outputs have no redisApps: apply the lab first (scripts/lab up)")
        self.apps = apps
        # Mautic speaks Sentinel, Nextcloud goes through the router (DESIGN.md); any two apps do.
        names = sorted(apps)
        self.sentinel_app = "mautic" if "mautic" in apps else names[0]
        self.router_app = "nextcloud" if "nextcloud" in apps else names[-1]

    # --- state through SSH (Sentinel on the Sentinel-only VM) ---

    def cli(self, host: Any, *args: str, port: int | None = None, user: str = "exporter"
            ) -> tuple[int, str, str]:
        from components.redis.checks import redis_cli

        return redis_cli(self.ctx, host, *args, port=port or self.render.REDIS_PORT, user=user)

    def sentinel_view(self, host: Any = None) -> tuple[str | None, str]:
        """(master address, flags) as one Sentinel sees it."""
        rc, out, _ = self.cli(host or self.client_host, "SENTINEL", "MASTER", self.name,
                              port=self.render.SENTINEL_PORT, user="")
        if rc != 0:
            return None, ""
        lines = out.split("\n")
        kv = dict(zip(lines[0::2], lines[1::2], strict=False))
        if "ip" not in kv:
            return None, ""
        return f"{kv['ip']}:{kv['port']}", kv.get("flags", "")

    def master(self) -> str | None:
        self.ctx.notes.pop("redis_master", None)
        from components.redis.checks import current_master

        return current_master(self.ctx)[0]

    def replica_state(self, addr: str) -> dict[str, str]:
        """A replica as the Sentinels see it: flags per Sentinel (all Sentinels asked)."""
        out = {}
        for h in self.render.sentinel_hosts(self.s):
            rc, text, _ = self.cli(h, "SENTINEL", "REPLICAS", self.name, port=self.render.SENTINEL_PORT, user="")
            flags = "?"
            if rc == 0:
                lines = text.split("\n")
                # flat list of key/value pairs per replica: find the block with our address
                for i, ln in enumerate(lines):
                    if ln == "name" and i + 1 < len(lines) and lines[i + 1] == addr:
                        block = lines[i:i + 80]
                        kv = dict(zip(block[0::2], block[1::2], strict=False))
                        flags = kv.get("flags", "?")
                        break
                else:
                    flags = "absent"
            out[h.name] = flags
        return out

    def rejoined(self, host: Any) -> tuple[bool, str]:
        """The host's Redis is a replica with its link up and every Sentinel sees it as a healthy replica."""
        rc, out, _ = self.cli(host, "INFO", "replication")
        from components.redis.checks import info_fields

        f = info_fields(out) if rc == 0 else {}
        if f.get("role") != "slave" or f.get("master_link_status") != "up":
            return False, f"role {f.get('role')}, link {f.get('master_link_status')}"
        flags = self.replica_state(f"{host.private_ip}:{self.render.REDIS_PORT}")
        ok = all(v == "slave" for v in flags.values())
        return ok, f"replica, link up; Sentinels: {flags}"

    def wait(self, what: Callable[[], tuple[bool, str]], timeout: float, every: float = 1.0) -> tuple[bool, str, float]:
        t = time.time()
        last = ""
        while time.time() - t < timeout:
            try:
                ok, last = what()
            except Exception as e:  # noqa: BLE001 - a host in the middle of booting
                ok, last = False, f"{type(e).__name__}: {e}"
            if ok:
                return True, last, time.time() - t
            time.sleep(every)
        return False, last, time.time() - t

    # --- clients ---

    def writer(self, via: str, tag: str) -> Client:
        app = self.sentinel_app if via == "sentinel" else self.router_app
        cred = self.apps[app]
        cfg: dict[str, Any] = {"mode": via, "user": cred["user"], "password": cred["password"],
                               "prefix": f"{cred['keyPrefix']}drill:{tag}:{via}:", "master_name": self.name,
                               "sentinels": self.sentinels, "address": self.router}
        netns = self._netns() if via == "sentinel" else None
        return Client(cfg, netns)

    def prober(self, addr: str, tag: str) -> Client:
        cred = self.apps[self.sentinel_app]
        cfg = {"mode": "probe", "user": cred["user"], "password": cred["password"], "address": addr,
               "prefix": f"{cred['keyPrefix']}drill:{tag}:probe:"}
        return Client(cfg, self._netns())

    def _netns(self) -> str:
        from scripts.lablib.api import netns

        return netns(self.client_host.name)

    # --- lab hosts ---

    def kill(self, host: Any) -> None:
        from scripts.lablib.api import stop

        stop(host.name)

    def boot(self, host: Any) -> None:
        from scripts.lablib.api import host_pid, hosts, start

        if host_pid(host.name) is None:
            start(next(h for h in hosts() if h.name == host.name))

    def ensure_up(self, host: Any) -> None:
        """Restore: the host runs again and its Redis is a healthy replica."""
        self.boot(host)
        self.wait(lambda: self.rejoined(host), REJOIN_TIMEOUT, every=1.0)

    def failback(self, want: str) -> dict[str, Any]:
        """Leave the lab as found: make `want` the master again (SENTINEL FAILOVER) if it is not."""
        if self.master() == want:
            return {"failback": "not needed"}
        log(f"redis: failing back to {want} (SENTINEL FAILOVER)")
        t = time.time()
        ok, why, said = False, "", ""
        for _ in range(3):  # NOGOODSLAVE / INPROG while the Sentinels refresh a replica's state: again
            rc, out, err = self.cli(self.client_host, "SENTINEL", "FAILOVER", self.name,
                                    port=self.render.SENTINEL_PORT, user="")
            said = out.strip() or err.strip()
            ok, why, _ = self.wait(lambda: (self.master() == want, f"master {self.master()}"), 30, every=0.5)
            if ok:
                break
            time.sleep(5)
        others = [h for a, h in self.data.items() if a != want]
        for h in others:
            ok2, why2, _ = self.wait(functools.partial(self.rejoined, h), REJOIN_TIMEOUT, every=1.0)
            ok, why = ok and ok2, f"{why}; {h.name}: {why2}"
        return {"failback": f"{'done' if ok else 'FAILED'} in {time.time() - t:.1f}s ({said}; {why})"}

    def sentinel_timeline(self, t0: float) -> dict[str, float]:
        """Seconds after t0 at which the local Sentinel of the client VM logged +sdown, +odown
        and +switch-master of the master (its log: 'pid:X 26 Nov 2026 09:09:45.367 # +sdown master ...')."""
        import calendar
        import re

        p = self.ctx.sudo(self.client_host, "tail -n 300 /var/log/redis/redis-sentinel.log")
        out: dict[str, float] = {}
        pat = re.compile(r"^\d+:X (\d+ \w+ \d+ \d+:\d+:\d+)\.(\d+) [#*] ([+-][a-z-]+) (\w+)")
        for ln in p.stdout.splitlines():
            m = pat.match(ln)
            if not m or m.group(3) not in ("+sdown", "+odown", "+switch-master") or \
                    (m.group(3) != "+switch-master" and m.group(4) != "master"):
                continue
            t = calendar.timegm(time.strptime(m.group(1), "%d %b %Y %H:%M:%S")) + int(m.group(2)) / 1000
            key = m.group(3)[1:].replace("-", "_")
            if t >= t0 - 0.5 and key not in out:
                out[key] = round(t - t0, 2)
        return out

    def host_of(self, addr: str | None) -> Any:
        if addr not in self.data:
            raise RuntimeError(f"the Sentinels report master {addr}, not a data node")
        return self.data[addr]


def _warm_up(clients: list[Client], timeout: float = 30) -> bool:
    t = time.time()
    while time.time() - t < timeout:
        if all(sum(1 for e in c.snapshot() if e["ok"] and e.get("acked")) >= 10 for c in clients):
            return True
        time.sleep(0.2)
    return False


def run_master_death(lab: RedisLab) -> dict[str, Any]:
    """kill -9 of the whole master VM (lab `stop`) while a Sentinel client and a router client write
    every 50 ms; seconds until each writes again; acknowledged writes missing on the new master."""
    old = lab.master()
    host = lab.host_of(old)
    tag = f"death{int(time.time())}"
    sw, rw = lab.writer("sentinel", tag), lab.writer("router", tag)
    res: dict[str, Any] = {"killed": host.name}
    try:
        if not _warm_up([sw, rw]):
            res["error"] = "writers did not get 10 acknowledged writes each before the kill"
        log(f"redis-master-death: killing {host.name} (the master) while both clients write")
        t0 = time.time()
        lab.kill(host)
        res["kill_seconds"] = round(time.time() - t0, 2)
        deadline = t0 + RECOVERY_TIMEOUT
        while time.time() < deadline:
            s, _ = recovery(sw.snapshot(), t0)
            r, _ = recovery(rw.snapshot(), t0)
            if s is not None and r is not None and ((s > 0 and r > 0) or time.time() - t0 > 20):
                break
            time.sleep(0.2)
        time.sleep(2)  # writes continue on the new master
    finally:
        sc, rc = sw.stop(), rw.stop()
        new = lab.master()
        res["new_master"] = lab.data[new].name if new in lab.data else new
        log(f"redis-master-death: new master {res['new_master']}; booting {host.name} again")
        lab.boot(host)
    sw.dump(TRACE, f"{tag}-sentinel")
    rw.dump(TRACE, f"{tag}-router")
    res["sentinel_log"] = lab.sentinel_timeline(t0)
    s_sec, s_fail = recovery(sw.snapshot(), t0)
    r_sec, r_fail = recovery(rw.snapshot(), t0)
    ok_rejoin, why, dt = lab.wait(lambda: lab.rejoined(host), REJOIN_TIMEOUT)
    acked_lost = int(sc.get("acked_lost", 0)) + int(rc.get("acked_lost", 0))
    checked = "error" not in sc and "error" not in rc
    res.update({
        "via_sentinel_seconds": s_sec, "via_router_seconds": r_sec,
        "seconds": max(s_sec or 0.0, r_sec or 0.0) if s_sec is not None and r_sec is not None else None,
        "failed_attempts": {"sentinel": s_fail, "router": r_fail},
        "acked_writes": int(sc.get("acked", 0)) + int(rc.get("acked", 0)),
        "ok_writes": int(sc.get("ok_writes", 0)) + int(rc.get("ok_writes", 0)),
        "acked_lost": acked_lost,
        "unacked_lost": int(sc.get("unacked_lost", 0)) + int(rc.get("unacked_lost", 0)),
        "check": "ok" if checked else f"sentinel: {sc.get('error')}; router: {rc.get('error')}",
        "old_master_rejoined_seconds": round(dt, 1) if ok_rejoin else None,
        "rejoin": why,
    })
    res["passed"] = bool(
        checked and "error" not in res and acked_lost == 0 and ok_rejoin
        and s_sec is not None and s_sec <= TARGET_SENTINEL_S and r_sec is not None and r_sec <= TARGET_ROUTER_S)
    return res


def _wind_down(lab: RedisLab, host: Any, probe: Client | None, rw: Any, tag: str
               ) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """Stop the probe and the router writer, make sure the VM runs again, keep both traces.
    Returns the router writer's result, the probe's events and its last summary."""
    if probe is not None:
        probe.stop(timeout=10)
    rc = rw.stop()
    lab.boot(host)
    rw.dump(TRACE, f"{tag}-router")
    if probe is not None:
        probe.dump(TRACE, f"{tag}-probe")
    evs = probe.snapshot("p") if probe else []
    ends = probe.snapshot("probe_end") if probe else []
    return rc, evs, (ends[-1] if ends else {})


def run_master_return(lab: RedisLab) -> dict[str, Any]:
    """Kill the master VM, wait for the failover, boot it again while probing it with writes from
    the moment its port opens: it must come back as a replica and accept no write. A router
    client writes meanwhile: all its acknowledged writes must be on the current master."""
    old = lab.master()
    host = lab.host_of(old)
    tag = f"return{int(time.time())}"
    rw = lab.writer("router", tag)
    res: dict[str, Any] = {"old_master": host.name}
    probe: Client | None = None
    try:
        _warm_up([rw])
        log(f"redis-master-return: killing {host.name} (the master), waiting for the failover")
        t_kill = time.time()
        lab.kill(host)
        ok, why, _ = lab.wait(lambda: (lab.master() not in (old, None), f"master {lab.master()}"), 90, every=0.5)
        res["failover_seconds"] = round(time.time() - t_kill, 1) if ok else None
        new = lab.master()
        res["new_master"] = lab.data[new].name if new in lab.data else new
        probe = lab.prober(old or "", tag)
        time.sleep(0.5)  # the probe runs (port closed) before the VM boots
        log(f"redis-master-return: booting {host.name} while probing it with writes")
        t0 = time.time()
        lab.boot(host)
        ok_rejoin, why, dt = lab.wait(lambda: lab.rejoined(host), REJOIN_TIMEOUT, every=0.5)
        time.sleep(2)  # keep probing the settled replica
    finally:
        rc, evs, probe_end = _wind_down(lab, host, probe, rw, tag)
    if probe is not None and not evs:
        res["probe_error"] = probe.stderr[-400:] or f"exit {probe.proc.returncode}"
    conn = [e for e in evs if e.get("conn")]
    accepted = [e for e in evs if e.get("set") == "ok"]
    link_up = next((e for e in conn if e.get("role") == "slave" and e.get("link") == "up"), None)
    journal = lab.ctx.sudo(host, "journalctl -u redis-server -b --no-pager -o cat | grep redis-guard | tail -n 3")
    res.update({
        "seconds": round(dt, 2) if ok_rejoin else None,
        "port_open_seconds": round(conn[0]["t"] - t0, 2) if conn else None,
        "replica_link_up_seconds": round(link_up["t"] - t0, 2) if link_up else None,
        "first_reply": ({k: conn[0].get(k) for k in ("set", "role", "link")} if conn else None),
        "roles_seen": sorted({str(e.get("role")) for e in conn}),
        "writes_accepted": max(len(accepted), int(probe_end.get("outcomes", {}).get("ok", 0))),
        "probes_connected": sum(v for k, v in probe_end.get("outcomes", {}).items() if k != "closed"),
        "probe_outcomes": probe_end.get("outcomes"),
        "acked_lost": int(rc.get("acked_lost", 0)),
        "router_acked_writes": int(rc.get("acked", 0)),
        "check": "ok" if "error" not in rc else f"router: {rc.get('error')}",
        "guard": [ln.strip()[:160] for ln in journal.stdout.splitlines()],
        "rejoin": why,
    })
    res["passed"] = bool(ok_rejoin and conn and res["writes_accepted"] == 0 and res["acked_lost"] == 0
                         and "error" not in rc and "master" not in res["roles_seen"])
    return res


def run_master_quick_return(lab: RedisLab) -> dict[str, Any]:
    """The master VM dies and boots again just before `down-after-milliseconds` runs out (a quick
    crash-reboot), so the Sentinels may fail over while it starts. Either outcome is correct -
    no failover (it stays master) or a failover (it comes back as a replica) - but never both:
    once another node is master, a write accepted by the old one is lost. Counted: writes the
    probe got accepted by the old master after its restart while the Sentinels ended on another
    master, and router writes missing on the final master."""
    old = lab.master()
    host = lab.host_of(old)
    tag = f"quick{int(time.time())}"
    boot_at = max(0.5, lab.s.redis.down_after_ms / 1000 - 0.8)  # the VM boots in ~0.9 s
    rw = lab.writer("router", tag)
    res: dict[str, Any] = {"old_master": host.name, "boot_at_seconds": boot_at}
    probe: Client | None = None
    try:
        _warm_up([rw])
        log(f"redis-master-quick-return: killing {host.name}, booting it again after {boot_at:.1f}s")
        t_kill = time.time()
        lab.kill(host)
        probe = lab.prober(old or "", tag)
        time.sleep(max(0.0, t_kill + boot_at - time.time()))
        t0 = time.time()
        lab.boot(host)
        # Settled: the old master is a healthy replica, or it is still the master after 30 s.
        ok, why, dt = lab.wait(lambda: lab.rejoined(host) if lab.master() != old else
                               (time.time() - t0 > 30, "still master"), REJOIN_TIMEOUT, every=0.5)
        time.sleep(2)
    finally:
        rc, evs, probe_end = _wind_down(lab, host, probe, rw, tag)
    final = lab.master()
    outcomes = probe_end.get("outcomes", {})
    conn = [e for e in evs if e.get("conn")]
    as_master = [e for e in conn if e.get("role") == "master"]
    failed_over = final != old
    journal = lab.ctx.sudo(host, "journalctl -u redis-server -b --no-pager -o cat | grep redis-guard | tail -n 3")
    res.update({
        "seconds": round(dt, 2) if ok else None,
        "failed_over": failed_over,
        "final_master": lab.data[final].name if final in lab.data else final,
        "port_open_seconds": round(conn[0]["t"] - t0, 2) if conn else None,
        "stale_master_seconds": (round(as_master[-1]["t"] - as_master[0]["t"], 2)
                                 if as_master and failed_over else 0.0),
        "writes_accepted": int(outcomes.get("ok", 0)) if failed_over else 0,
        "probe_outcomes": outcomes,
        "acked_lost": int(rc.get("acked_lost", 0)),
        "router_unacked_lost": int(rc.get("unacked_lost", 0)),
        "sentinel_log": lab.sentinel_timeline(t_kill),
        "guard": [ln.strip()[:160] for ln in journal.stdout.splitlines()],
        "settled": why,
    })
    res["passed"] = bool(ok and conn and res["writes_accepted"] == 0 and res["acked_lost"] == 0
                         and res["router_unacked_lost"] == 0 and "error" not in rc)
    return res


def _app_cli(lab: RedisLab, host: Any, app: str, commands: str, extra: str = "") -> subprocess.CompletedProcess[str]:
    """redis-cli on `host` as an app user: the password is the first line of stdin, then commands."""
    cred = lab.apps[app]
    tls = lab.render.cli_tls_args(lab.s)
    script = (f"IFS= read -r REDISCLI_AUTH; export REDISCLI_AUTH; timeout 60 redis-cli {tls} --no-auth-warning "
              f"--user {cred['user']} -h 127.0.0.1 -p {lab.render.REDIS_PORT} {extra}")
    return lab.ctx.run(host, f"bash -c {shlex.quote(script)}", stdin=cred["password"] + "\n" + commands,
                       timeout=90)


def _keyspace(lab: RedisLab, host: Any) -> dict[str, int]:
    rc, out, _ = lab.cli(host, "INFO", "keyspace")
    ks = {}
    for ln in out.splitlines():
        if ln.startswith("db") and ":keys=" in ln:
            db, rest = ln.split(":", 1)
            ks[db] = int(rest.split(",")[0].split("=")[1])
    return ks


def run_restore(lab: RedisLab) -> dict[str, Any]:
    """Seed known keys, take a backup (the backup unit on the master), restore the latest RDB from
    the bucket into a scratch instance with `platform-redis-restore` on the other data node, and
    compare: key counts with the source, and every seeded key present with its value."""
    from components.redis.checks import BACKUP_UNIT

    master = lab.host_of(lab.master())
    others = [h for h in lab.data.values() if h.name != master.name]
    target = others[0] if others else master
    app = lab.sentinel_app
    prefix = f"{lab.apps[app]['keyPrefix']}drill:restore{int(time.time())}:"
    res: dict[str, Any] = {"source": master.name, "restored_on": target.name}
    seed = "".join(f"SET {prefix}{i} v{i}\n" for i in range(RESTORE_SEED_KEYS))
    p = _app_cli(lab, master, app, seed)
    res["seeded"] = p.stdout.count("OK")
    info_before = _keyspace(lab, master)
    log(f"redis-restore: {res['seeded']} keys seeded; backup on {master.name}, restore on {target.name}")
    t_backup = time.time()
    b = lab.ctx.sudo(master, f"systemctl start {BACKUP_UNIT} && cat /var/lib/platform-redis/last-backup", timeout=900)
    info_after = _keyspace(lab, master)
    last = dict(ln.split("=", 1) for ln in b.stdout.splitlines() if "=" in ln)
    res["backup_seconds"] = round(time.time() - t_backup, 1)
    res["backup_object"] = last.get("key")
    fresh = b.returncode == 0 and int(last.get("time", "0")) >= int(t_backup) - 1
    t0 = time.time()
    r = lab.ctx.sudo(target, f"platform-redis-restore --port {RESTORE_PORT} --key latest --keep", timeout=600)
    res["seconds"] = round(time.time() - t0, 2)
    out: dict[str, Any] = {}
    for ln in reversed(r.stdout.splitlines()):
        if ln.startswith("{"):
            out = json.loads(ln)
            break
    found, values_ok = 0, False
    try:
        if out:
            tls = lab.render.cli_tls_args(lab.s)
            q = lab.ctx.sudo(target, f"redis-cli {tls} -h 127.0.0.1 -p {RESTORE_PORT} --scan --pattern "
                                     f"'{prefix}*' | wc -l; "
                                     f"redis-cli {tls} -h 127.0.0.1 -p {RESTORE_PORT} MGET {prefix}0 "
                                     f"{prefix}{RESTORE_SEED_KEYS - 1}")
            lines = q.stdout.split()
            found = int(lines[0]) if lines and lines[0].isdigit() else 0
            values_ok = lines[1:3] == ["v0", f"v{RESTORE_SEED_KEYS - 1}"]
    finally:
        if out.get("pid"):
            lab.ctx.sudo(target, f"kill {int(out['pid'])}; sleep 0.5; rm -rf -- {json.dumps(str(out.get('dir')))}")
        _app_cli(lab, master, app, "".join(f"DEL {prefix}{i}\n" for i in range(RESTORE_SEED_KEYS)))
    restored_total = int(out.get("keys_total", -1)) if out else -1
    lo = min(sum(info_before.values()), sum(info_after.values()))
    hi = max(sum(info_before.values()), sum(info_after.values()))
    res.update({
        "object": out.get("object"),
        "source_keys": info_after, "restored_keys": out.get("keys"),
        "seeded_found": found, "seeded_values_ok": values_ok,
        "acked_lost": RESTORE_SEED_KEYS - found if out else RESTORE_SEED_KEYS,
        "error": None if r.returncode == 0 else (r.stderr.strip().splitlines() or ["?"])[-1][:200],
    })
    res["passed"] = bool(
        fresh and r.returncode == 0 and out.get("object") == last.get("key") and lo <= restored_total <= hi
        and found == RESTORE_SEED_KEYS and values_ok and res["seeded"] == RESTORE_SEED_KEYS)
    return res


def _finish_topology(lab: RedisLab, original: str | None) -> dict[str, Any]:
    """After a drill: every data node up and rejoined, the original master master again."""
    for h in lab.data.values():
        lab.boot(h)
    if original is None:
        return {}
    return lab.failback(original)


_LABS: dict[int, RedisLab] = {}


def _one_run(lab: Lab, fn: Callable[[RedisLab], dict[str, Any]]) -> dict[str, Any]:
    """One run, then the lab as found: every data node up and rejoined, the master of before
    master again (SENTINEL FAILOVER when a drill moved it)."""
    rl = _LABS.get(id(lab))
    if rl is None:
        rl = _LABS[id(lab)] = RedisLab(lab.ctx)
    original = rl.master()
    if original not in rl.data:
        raise DrillError(f"the Sentinels report master {original}: the cluster is not healthy before the run")
    try:
        res = fn(rl)
    except BaseException:
        for h in rl.data.values():
            rl.ensure_up(h)
        raise
    finally:
        extra = _finish_topology(rl, original)
    res.update(extra)
    if "FAILED" in str(extra.get("failback", "")):
        res["passed"] = False
    return res


@drill("redis-master-death")
def master_death(lab: Lab) -> dict[str, Any]:
    return _one_run(lab, run_master_death)


@drill("redis-master-return")
def master_return(lab: Lab) -> dict[str, Any]:
    return _one_run(lab, run_master_return)


@drill("redis-master-quick-return")
def master_quick_return(lab: Lab) -> dict[str, Any]:
    return _one_run(lab, run_master_quick_return)


@drill("redis-restore")
def restore(lab: Lab) -> dict[str, Any]:
    return _one_run(lab, run_restore)
