"""The Redis side of the lab for the drills: who is master, Sentinel state, replication, killing
and restarting a Redis VM, and the clients that write and probe during a run.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any

from scripts.drills.common import DrillError, log
from scripts.drills.redis_client import Client

REJOIN_TIMEOUT = 180.0
TRACE: str | None = os.environ.get("REDIS_DRILL_TRACE")  # a JSONL file for every client event


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


def warm_up(clients: list[Client], timeout: float = 30) -> bool:
    t = time.time()
    while time.time() - t < timeout:
        if all(sum(1 for e in c.snapshot() if e["ok"] and e.get("acked")) >= 10 for c in clients):
            return True
        time.sleep(0.2)
    return False
