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

import functools
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.drills import alerts  # noqa: E402
from scripts.drills.common import DrillError, Expect, Lab, drill, log  # noqa: E402
from scripts.drills.redis_client import Client, recovery  # noqa: E402
from scripts.drills.redis_lab import REJOIN_TIMEOUT, TRACE, RedisLab, warm_up  # noqa: E402

TARGET_SENTINEL_S = 5.0

TARGET_ROUTER_S = 7.0

RECOVERY_TIMEOUT = 60.0


RESTORE_PORT = 6390

RESTORE_SEED_KEYS = 1000


def run_master_death(lab: RedisLab) -> dict[str, Any]:
    """kill -9 of the whole master VM (lab `stop`) while a Sentinel client and a router client write
    every 50 ms; seconds until each writes again; acknowledged writes missing on the new master."""
    old = lab.master()
    host = lab.host_of(old)
    tag = f"death{int(time.time())}"
    sw, rw = lab.writer("sentinel", tag), lab.writer("router", tag)
    res: dict[str, Any] = {"killed": host.name}
    try:
        if not warm_up([sw, rw]):
            res["error"] = "writers did not get 10 acknowledged writes each before the kill"
        log(f"redis-master-death: killing {host.name} (the master) while both clients write")
        t0 = time.time()
        alerts.mark_fault()
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
        alerts.hold_until_paged()  # a dead VM stays dead until someone is paged
        log(f"redis-master-death: new master {res['new_master']}; booting {host.name} again")
        lab.boot(host)
        alerts.mark_recovered()
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
        warm_up([rw])
        log(f"redis-master-return: killing {host.name} (the master), waiting for the failover")
        t_kill = time.time()
        alerts.mark_fault()
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
        alerts.mark_recovered()
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
        warm_up([rw])
        log(f"redis-master-quick-return: killing {host.name}, booting it again after {boot_at:.1f}s")
        t_kill = time.time()
        alerts.mark_fault()
        lab.kill(host)
        probe = lab.prober(old or "", tag)
        time.sleep(max(0.0, t_kill + boot_at - time.time()))
        t0 = time.time()
        lab.boot(host)
        alerts.mark_recovered()
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
    """After a drill: every data node up and rejoined, the original master master again - once
    the fault's alert reached the receiver (nobody fails back before being paged; a failback
    within a group_interval would also resolve the failover's alert before it is sent)."""
    alerts.hold_until_paged()
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


# One registration per drill; each run is wrapped by _one_run (set-up check, wind-down, topology).
# The alerts: a dead master VM pages (HostDown); a failover is reported (RedisMasterChanged); a
# quick crash-reboot may or may not fail over, so its alert may or may not come; a restore pages nobody.
for _name, _run, _expect in (
        ("redis-master-death", run_master_death, Expect("HostDown", critical=True, await_resolution=True)),
        ("redis-master-return", run_master_return, Expect("RedisMasterChanged")),
        ("redis-master-quick-return", run_master_quick_return,
         Expect("RedisMasterChanged", required=False)),
        ("redis-restore", run_restore, None)):
    drill(_name, _expect)(functools.partial(_one_run, fn=_run))
