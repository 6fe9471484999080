"""`platform-restart`: every database and Redis VM loses power at once (SIGKILL of each lab host),
stays off until someone is paged, then all start again together - a power cut or a host
maintenance window. The monitoring VM (the etcd witness) and the router stay up.

Measured through the router from this machine, as the apps see it, from the power-on:
`seconds` until PostgreSQL writes succeed again (stable), `client_errors_after_routed` - failed
writes after the router first sent a write to a database that answered (PgBouncer's "server login
has been failing", "read-only transaction"), acknowledged writes lost, new PostgreSQL timelines,
and for Redis the seconds until writes succeed again and acknowledged writes lost; with MariaDB
(Galera) on, the same for a writer through the router's `mariadb_rw` (the cluster comes back by
platform-mariadb-recover's bootstrap of the most advanced node) and both nodes Synced; then
`scripts/verify --stack lab` must pass with no manual step.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from components.mariadb import names as n
from scripts.drills import alerts
from scripts.drills.common import DrillError, Expect, Lab, drill, log, wait_for
from scripts.drills.mariadb import MariadbWriter
from scripts.drills.pg_cluster import (
    app_client,
    cleanup_run,
    history_len,
    new_run_id,
    present_ids,
    setup_tables,
    wait_healthy,
    writer,
)
from scripts.drills.redis_client import recovery
from scripts.drills.redis_lab import REJOIN_TIMEOUT, RedisLab, warm_up

ROOT = Path(__file__).resolve().parents[2]
TARGET_S = 15.0  # writes back after the power-on
MARIADB_TIMEOUT_S = 240.0  # bound on MariaDB's way back (Galera: every node reports, one bootstraps)
STREAK = 20  # consecutive successful writes (2 s at 100 ms) = recovered
ANSWERED = ("ok", "readonly", "error")  # outcomes where a database answered (not refused / timed out)


def _first_routed(w: Any, since: float) -> float | None:
    """Start of the first write after `since` that a database answered (the router routed it)."""
    starts = sorted(a.t0 for a in w.done() if a.t0 >= since and a.kind in ANSWERED)
    return starts[0] if starts else None


def _verify() -> dict[str, Any]:
    cp = subprocess.run([str(ROOT / "scripts/verify"), "--stack", "lab"], capture_output=True, text=True,
                        timeout=600, check=False)
    last: dict[str, Any] = next((json.loads(ln) for ln in reversed(cp.stdout.splitlines()) if ln.startswith("{")),
                                {})
    failed = [ln.strip()[:140] for ln in cp.stdout.splitlines() if ln.startswith("FAIL")]
    return {"verify_passed": last.get("passed"), "verify_failed": last.get("failed"), "verify_failures": failed[:6]}


@drill("platform-restart", Expect("HostDown", critical=True, await_resolution=True))
def platform_restart(lab: Lab) -> dict[str, Any]:
    from scripts.lablib.api import host_pid, hosts, start, stop

    names = [h.name for h in lab.settings.hosts.all() if h.role in ("postgres", "redis")]
    lab_hosts = {h.name: h for h in hosts()}
    st = wait_healthy(lab)
    rl = RedisLab(lab.ctx)
    redis_master = rl.master()
    client = app_client(lab)
    run = new_run_id("restart")
    hist0 = history_len(lab)
    res: dict[str, Any] = {"hosts": names, "leader_before": st["leader"], "run_id": run}
    w = writer(client, run)
    rw = rl.writer("router", f"restart{int(time.time())}")
    maria = MariadbWriter.start(lab, run) if n.galera(lab.settings) else None
    power_on: float | None = None
    power_on_epoch = 0.0
    try:
        setup_tables(client)
        w.start()
        if not (wait_for(lambda: len(w.acked_ids()) >= 10, 20, 0.2) and warm_up([rw])
                and (maria is None or maria.warm())):
            raise DrillError(f"writes through the router do not succeed before the cut: {w.errors()}")
        log(f"platform-restart: power cut on {', '.join(names)}")
        alerts.mark_fault()
        for name in names:
            stop(name)
        res["off"] = names
        alerts.hold_until_paged()  # the power comes back once someone was paged
        log("platform-restart: power on")
        power_on = time.monotonic()
        power_on_epoch = time.time()
        for name in names:
            if host_pid(name) is None:
                start(lab_hosts[name])
        alerts.mark_recovered()
        wait_for(lambda: time.monotonic() - power_on > 2 and w.stable_since(power_on, STREAK), 240, 0.25)
        time.sleep(2)  # writes go on; Redis too
        if maria is not None:
            wait_for(lambda: maria.back_since(power_on_epoch) is not None, MARIADB_TIMEOUT_S, 0.5)
            time.sleep(2)
    finally:
        w.stop()
        rc = rw.stop()
        if maria is not None:
            maria.stop()
        for name in names:  # whatever happened, every host runs again
            if host_pid(name) is None:
                start(lab_hosts[name])
    seconds = w.recovery(power_on) if power_on is not None else None
    routed = _first_routed(w, power_on) if power_on is not None else None
    after = [a for a in w.done() if routed is not None and a.t0 >= routed and not a.ok]
    r_sec, r_fail = recovery(rw.snapshot(), power_on_epoch) if power_on is not None else (None, 0)
    acked = w.acked_ids()
    present = present_ids(client, run)
    lost = sorted(acked - present) if present is not None else None
    healthy = wait_healthy(lab)
    cleanup_run(client, run)
    client.close()
    def replicas_linked() -> tuple[bool, str]:
        m = rl.master()
        return m is not None and all(rl.rejoined(h)[0] for a, h in rl.data.items() if a != m), f"master {m}"

    redis_ok, why, redis_linked_s = rl.wait(replicas_linked, REJOIN_TIMEOUT)
    hist1 = history_len(lab)
    res.update({
        "seconds": seconds, "target_seconds": TARGET_S,
        "first_routed_seconds": round(routed - power_on, 2) if routed is not None and power_on else None,
        "client_errors_after_routed": len(after),
        "errors_after_routed": sorted({a.detail for a in after})[:4],
        "acked": len(acked), "acked_lost": len(lost) if lost is not None else len(acked), "lost_ids": (lost or [])[:20],
        "leader_after": healthy["leader"],
        "new_timelines": hist1 - hist0 if hist0 is not None and hist1 is not None else None,
        "redis_master_before": redis_master, "redis_master_after": rl.master(),
        "redis_via_router_seconds": r_sec, "redis_failed_attempts": r_fail,
        "redis_acked_lost": int(rc.get("acked_lost", 0)), "redis_replicas": why if redis_ok else f"not linked: {why}",
        "redis_replicas_linked_seconds": round(redis_linked_s, 1) if redis_ok else None,
    })
    if maria is not None:
        res.update(maria.result(lab, power_on_epoch))
    if redis_master is not None and rl.master() != redis_master:
        res.update(rl.failback(redis_master))  # leave the lab as found (the Redis drills start there)
    res.update(_verify())
    res["passed"] = bool(seconds is not None and seconds <= TARGET_S and not after and lost == []
                         and res["redis_acked_lost"] == 0 and redis_ok and res["verify_failed"] == 0
                         and (maria is None or res.get("mariadb_passed") is True))
    return res
