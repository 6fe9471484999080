"""PostgreSQL drills: node death, postgres crash, planned switchover, network partition, restore.

Each run starts from a healthy cluster (Leader + streaming replica, bounded wait), injects one
fault, measures from this machine through the router, and puts the lab back (host started, link up,
scratch instance stopped) before it returns, whatever happened.
"""

import json
import time
from typing import Any

from scripts.drills import alerts
from scripts.drills.common import (
    PATRONI_CONFIG,
    DrillError,
    Expect,
    Lab,
    Timeline,
    drill,
    log,
    quote,
    run_local,
    wait_for,
)
from scripts.drills.pg_clients import Load, Prober
from scripts.drills.pg_cluster import (
    app_client,
    cleanup_run,
    etcd_healthy,
    healthy,
    history_len,
    leader_of,
    members,
    new_run_id,
    present_ids,
    remediate,
    setup_tables,
    wait_healthy,
    wait_rejoined,
    writer,
)

STREAK = 20  # consecutive successful writes (2 s at 100 ms) = recovered
STALL_REJOIN_TARGET = 15.0  # pg-leader-stall: seconds from the resume to a streaming replica

RESTORE_DIR = "/var/tmp/platform-restore-drill"

RESTORE_PORT = 5499


def _observe(w: Prober, fault: float, timeout: float) -> float | None:
    """Wait (bounded) until writes through the router are stable again; seconds to recovery."""
    wait_for(lambda: time.monotonic() - fault > 2 and w.stable_since(fault, STREAK), timeout, 0.25)
    return w.recovery(fault)


def _with_writes(lab: Lab, kind: str, inject: Any, target: float, rejoin_timeout: float = 180,
                 load: bool = True, as_replica: bool = True, outage: bool = False) -> dict[str, Any]:
    """Common shape: healthy -> writes (+ pgbench) through the router -> inject() -> recovery ->
    acked lost -> restore -> old leader rejoined."""
    st = wait_healthy(lab)
    old = st["leader"]
    ttl = lab.settings.postgres.ttl
    client = app_client(lab)
    run = new_run_id(kind)
    tl = Timeline()
    res: dict[str, Any] = {"old_leader": old, "run_id": run}
    w = writer(client, run)
    ld = Load(client) if load else None
    restore: Any = None
    try:
        setup_tables(client)
        w.start()
        if ld:
            ld.start()
        ok_before = wait_for(lambda: len(w.acked_ids()) >= 10, 20, 0.2)
        if not ok_before:
            raise DrillError(f"writes through the router do not succeed before the fault: {w.errors()}")
        fault = tl.mark("fault")
        log(f"{kind}: fault on {old}")
        alerts.mark_fault()
        restore = inject(old, res)
        tl.mark("injected")
        seconds = _observe(w, fault, ttl + 90)
        tl.mark("recovered")
        if restore is None:
            alerts.mark_recovered()  # the fault ends by itself (a crash Patroni recovers from)
        window = w.failure_window(fault)
        res["seconds_from_fault"] = seconds
        if outage:
            # A planned switchover starts when Patroni acts, not when patronictl is launched: count
            # the write outage itself (first failed write -> writes succeed again).
            res["seconds_from_command"] = seconds
            seconds = round(seconds - window[0], 2) if seconds is not None and window else seconds
        res["errors_seen"] = w.errors(fault)
        res["failure_window"] = w.failure_window(fault)
        res["first_failures"] = w.first_failures(fault)
        res["write_outcomes"] = w.counts(fault)
    finally:
        if ld:
            ld.stop()
        w.stop()
        if restore:
            try:
                restore()
            except Exception as e:  # noqa: BLE001
                res["restore_error"] = f"{type(e).__name__}: {e}"
            alerts.mark_recovered()
    if ld:
        res.update(ld.summary())
    acked = w.acked_ids()
    present = present_ids(client, run)
    lost = sorted(acked - present) if present is not None else None
    ms = members(lab)
    new = leader_of(ms)
    rejoined = wait_rejoined(lab, old, rejoin_timeout, as_replica=as_replica)
    tl.mark("rejoined")
    etcd = bool(wait_for(lambda: etcd_healthy(lab), 60, 2))
    cleanup_run(client, run)
    client.close()
    res.update({
        "seconds": seconds, "target_seconds": target, "acked": len(acked),
        "acked_lost": len(lost) if lost is not None else len(acked), "lost_ids": (lost or [])[:20],
        "new_leader": new, "old_leader_rejoined": rejoined, "etcd_healthy": etcd,
        "timeline": tl.rel("fault"),
    })
    res["passed"] = bool(seconds is not None and seconds <= target and lost == [] and rejoined and etcd
                         and "restore_error" not in res)
    return res


def _lab_host(name: str) -> Any:
    from scripts.lablib.inventory import find_host

    return find_host(name)


@drill("pg-node-death", Expect("HostDown", critical=True, await_resolution=True))
def node_death(lab: Lab) -> dict[str, Any]:
    """The leader's whole VM dies (SIGKILL of the lab host: PostgreSQL, Patroni, etcd member at once)."""
    from scripts.lablib.api import host_pid, start, stop

    def inject(old: str, res: dict[str, Any]) -> Any:
        stop(old)  # KILL: a crash as the other hosts see it

        def restore() -> None:
            alerts.hold_until_paged()  # a dead VM stays dead until someone is paged
            if host_pid(old) is None:
                log(f"pg-node-death: starting {old} again")
                start(_lab_host(old))
                if not wait_for(lambda: lab.run(old, "true", timeout=5).returncode == 0, 120, 1):
                    raise DrillError(f"{old} has no ssh 120 s after start")

        return restore

    ttl = lab.settings.postgres.ttl
    res = _with_writes(lab, "node-death", inject, ttl + 3, rejoin_timeout=240)
    res["failed_over"] = res.get("new_leader") not in (None, res["old_leader"])
    res["passed"] = res["passed"] and res["failed_over"]
    return res


@drill("pg-leader-stall", Expect("PostgresFailover"))
def leader_stall(lab: Lab) -> dict[str, Any]:
    """The leader's VM stalls instead of dying (SIGSTOP of every process of the host, as a paused
    VM or a long I/O stall looks to its peers) until writes through the router are back, then it
    resumes (SIGCONT). Measured too: seconds from the resume until the old leader is a streaming
    replica again (`rejoin_seconds`, target 15)."""
    from scripts.lablib.api import pause, resume

    def inject(old: str, res: dict[str, Any]) -> Any:
        paused_at = time.monotonic()  # the fault mark (a few ms earlier): the timeline's zero
        res["paused_pids"] = len(pause(old))

        def restore() -> None:
            res["stalled_seconds"] = round(time.monotonic() - paused_at, 1)
            log(f"pg-leader-stall: resuming {old}")
            resume(old)

        return restore

    ttl = lab.settings.postgres.ttl
    res = _with_writes(lab, "leader-stall", inject, 20.0, rejoin_timeout=180)
    rejoined = res["timeline"].get("rejoined")
    stalled = res.get("stalled_seconds")
    res["rejoin_seconds"] = (round(rejoined - stalled, 1) if res["old_leader_rejoined"] and rejoined is not None
                             and stalled is not None else None)
    res["target_rejoin_seconds"] = STALL_REJOIN_TARGET
    res["failed_over"] = res.get("new_leader") not in (None, res["old_leader"])
    res["passed"] = bool(res["passed"] and res["failed_over"] and res["rejoin_seconds"] is not None
                         and res["rejoin_seconds"] <= STALL_REJOIN_TARGET)
    res["ttl"] = ttl
    return res


@drill("pg-crash", Expect("PostgresCrashed", critical=True, await_resolution=True))
def crash(lab: Lab) -> dict[str, Any]:
    """kill -9 of PostgreSQL only (postmaster and its children, by PID) on the leader."""
    datadir = f"/var/lib/postgresql/{lab.settings.postgres.version}/platform"

    def inject(old: str, res: dict[str, Any]) -> None:
        cmd = (f"pm=$(head -1 {datadir}/postmaster.pid) && kids=$(pgrep -P \"$pm\" | tr '\\n' ' ') && "
               "kill -9 \"$pm\" $kids && echo \"killed $pm $kids\"")
        p = lab.sudo(old, cmd, timeout=10)
        res["killed"] = p.stdout.strip()[:200]
        if p.returncode != 0:
            raise DrillError(f"kill failed: {p.stderr.strip()[:200]}")

    res = _with_writes(lab, "crash", inject, 10.0, rejoin_timeout=120, as_replica=False)
    return res


@drill("pg-switchover", Expect("PostgresFailover"))
def switchover(lab: Lab) -> dict[str, Any]:
    """Planned switchover to the (sync) replica with `patronictl switchover --force`."""
    cluster = lab.settings.postgres.cluster_name

    def inject(old: str, res: dict[str, Any]) -> None:
        st = healthy(lab) or {}
        cand = (st.get("replicas") or [""])[0]
        p = lab.sudo(old, f"patronictl -c {PATRONI_CONFIG} switchover --candidate {quote(cand)} --force "
                          f"{quote(cluster)}", timeout=90)
        res["candidate"] = cand
        res["patronictl"] = next((ln.strip() for ln in p.stdout.splitlines() if "switched over" in ln.lower()),
                                 "")[:200]
        if p.returncode != 0:
            raise DrillError(f"patronictl switchover failed: {(p.stderr or p.stdout).strip()[-300:]}")

    res = _with_writes(lab, "switchover", inject, 10.0, rejoin_timeout=120, outage=True)
    res["passed"] = res["passed"] and res.get("new_leader") == res.get("candidate")
    return res


@drill("pg-patroni-crash")
def patroni_crash(lab: Lab) -> dict[str, Any]:
    """Patroni alone dies on the leader (SIGKILL of its main process) and systemd restarts it while
    PostgreSQL keeps running (KillMode=process): no failover, writes go on, and where replication
    is synchronous the standby is synchronous again (Patroni 3.0.2 alone leaves it asynchronous
    while etcd still names it the sync standby: see components/postgres/host/patroni_launcher.py)."""
    fault_at: list[float] = []

    def inject(old: str, res: dict[str, Any]) -> None:
        p = lab.sudo(old, "systemctl kill -s KILL --kill-who=main patroni", timeout=10)
        fault_at.append(time.monotonic())
        if p.returncode != 0:
            raise DrillError(f"systemctl kill failed: {p.stderr.strip()[:200]}")

    res = _with_writes(lab, "patroni-crash", inject, 10.0, rejoin_timeout=60, as_replica=False)
    # Back to normal: the same leader, and (synchronous) a sync standby in pg_stat_replication.
    st = wait_for(lambda: healthy(lab), 60, 1)
    res["restored_seconds"] = round(time.monotonic() - fault_at[0], 2) if st and fault_at else None
    res["failed_over"] = res.get("new_leader") != res["old_leader"]
    res["healthy_after"] = bool(st) and st.get("leader") == res["old_leader"]
    res["passed"] = res["passed"] and not res["failed_over"] and res["healthy_after"]
    return res


@drill("pg-partition", Expect("PostgresFailover"))
def partition(lab: Lab) -> dict[str, Any]:
    """Cut the leader's network (its veth on the bridge). The isolated old leader must stop
    accepting writes within ttl (probed from inside its own network namespace), the replica takes
    over, and after the link is back no write is ever acknowledged by two leaders."""
    from scripts.lablib.api import netns, veth

    st = wait_healthy(lab)
    old = st["leader"]
    old_ip = lab.host(old).private_ip
    ttl = lab.settings.postgres.ttl
    hist0 = history_len(lab)
    client = app_client(lab)
    run = new_run_id("partition")
    tl = Timeline()
    res: dict[str, Any] = {"old_leader": old, "run_id": run}
    seconds: float | None = None
    w = writer(client, run)
    # Writes straight to the old leader's PostgreSQL, from inside its namespace (reachable while cut).
    probe = writer(client, run + "-old", host=old_ip, netns=netns(old), interval=0.25, name="old-leader-probe")
    link = veth(old)
    cut = False
    try:
        setup_tables(client)
        w.start()
        probe.start()
        if not wait_for(lambda: len(w.acked_ids()) >= 10 and len(probe.acked_ids()) >= 4, 20, 0.2):
            raise DrillError(f"writes do not succeed before the cut: router {w.errors()} old {probe.errors()}")
        fault = tl.mark("fault")
        log(f"pg-partition: ip link set {link} down ({old})")
        alerts.mark_fault()
        cp = run_local(["ip", "link", "set", link, "down"])
        if cp.returncode != 0:
            raise DrillError(f"ip link set {link} down: {cp.stderr.strip()}")
        cut = True

        def refused() -> bool:
            tail = [a for a in probe.done() if a.t0 >= fault]
            return len(tail) >= 4 and not any(a.ok for a in tail[-4:]) and \
                any(a.kind in ("readonly", "refused") for a in tail[-4:])

        wait_for(lambda: refused() and w.stable_since(fault, STREAK), ttl + 60, 0.25)
        tl.mark("both")
        seconds = w.recovery(fault)
        res["first_failures"] = w.first_failures(fault)
        time.sleep(3)
    finally:
        if cut:
            run_local(["ip", "link", "set", link, "up"])
            alerts.mark_recovered()
            tl.mark("reconnected")
            log(f"pg-partition: ip link set {link} up")
    try:
        rejoined = wait_rejoined(lab, old, 120)
        tl.mark("rejoined")
        if not rejoined:
            res["cluster_after_reconnect"] = members(lab)
            res["remediation"] = remediate(lab, old)
        time.sleep(2)
    finally:
        probe.stop()
        w.stop()
    back = tl.marks.get("reconnected", time.monotonic())
    res["writes_after_reconnect"] = w.counts(back)
    res["failures_after_reconnect"] = w.first_failures(back)
    after = sorted((a for a in probe.done() if a.t0 >= fault), key=lambda a: a.t0)
    acks_after_cut = [a for a in after if a.ok]
    last_ack = max((a.t0 for a in acks_after_cut), default=fault)
    first_refusal = next((a for a in after if a.t0 >= last_ack and a.kind in ("readonly", "refused")), None)
    refused_after = round(first_refusal.t0 - fault, 2) if first_refusal else None
    unacked_after = round(next((a.t0 for a in after if not a.ok and a.t0 >= last_ack), fault) - fault, 2)
    # The router's first write on the new leader = promotion (upper bound); acks by the old leader
    # after that instant would be split-brain writes.
    promoted_at = fault + seconds if seconds is not None else None
    split = [a.id for a in acks_after_cut if promoted_at is not None and a.t1 >= promoted_at]
    acked = w.acked_ids() | set()
    present = present_ids(client, run)
    present_old = present_ids(client, run + "-old")
    lost = sorted(acked - present) if present is not None else None
    lost_old = sorted(probe.acked_ids() - present_old) if present_old is not None else None
    ms = members(lab)
    new = leader_of(ms)
    hist1 = history_len(lab)
    etcd = bool(wait_for(lambda: etcd_healthy(lab), 60, 2))
    cleanup_run(client, run)
    client.close()
    res.update({
        "seconds": seconds, "target_seconds": ttl + 3,
        "old_leader_refused_after": refused_after, "old_leader_unacked_after": unacked_after,
        "target_refused_seconds": ttl,
        "old_leader_acks_after_cut": len(acks_after_cut), "old_leader_probe_outcomes": probe.counts(fault),
        "old_leader_errors": probe.errors(fault),
        "split_brain_writes": len(split) + len(lost_old or []),
        "acked": len(acked), "acked_lost": (len(lost) if lost is not None else len(acked)) + len(lost_old or []),
        "new_leader": new, "old_leader_rejoined": rejoined, "etcd_healthy": etcd,
        "new_timelines": (hist1 - hist0) if hist0 is not None and hist1 is not None else None,
        "timeline": tl.rel("fault"),
    })
    res["passed"] = bool(
        refused_after is not None and refused_after <= ttl and res["split_brain_writes"] == 0
        and res["acked_lost"] == 0 and rejoined and etcd and new not in (None, old)
        and res["new_timelines"] == 1 and seconds is not None)
    return res


@drill("pg-restore")
def restore(lab: Lab) -> dict[str, Any]:
    """Latest backup + WAL restored into a scratch data directory on the replica, started as a
    scratch PostgreSQL on another port: a table written before the check point must match exactly."""
    st = wait_healthy(lab)
    leader, spare = st["leader"], st["replicas"][0]
    pg = lab.settings.postgres
    stanza = pg.cluster_name
    bindir = f"/usr/lib/postgresql/{pg.version}/bin"
    client = app_client(lab)
    run = new_run_id("restore").replace("-", "_")
    table = f"platform_drill.restore_{run}"
    point = f"drill-{run}"
    tl = Timeline()
    res: dict[str, Any] = {"leader": leader, "restored_on": spare, "table": table}
    checksum = f"SELECT count(*) || ' ' || md5(string_agg(id || ':' || v, ',' ORDER BY id)) FROM {table}"
    started = False
    t0 = tl.mark("start")
    try:
        setup_tables(client)
        p = client.psql(f"CREATE TABLE {table} AS SELECT g AS id, md5(g::text || '{run}') AS v "
                        f"FROM generate_series(1, 20000) g", timeout=30)
        if p.returncode != 0:
            raise DrillError(f"cannot write the source table: {p.stderr.strip()[:200]}")
        src = client.psql(checksum, timeout=30).stdout.strip()
        # The check point: a named restore point, then `pgbackrest check` (switches WAL and waits
        # until that segment is in the repository).
        p = lab.sudo(leader, "runuser -u postgres -- psql -h /var/run/postgresql -XAtq -c "
                             + quote(f"SELECT pg_create_restore_point('{point}')"), timeout=20)
        if p.returncode != 0:
            raise DrillError(f"restore point: {p.stderr.strip()[:200]}")
        p = lab.sudo(leader, f"runuser -u postgres -- pgbackrest --stanza={stanza} --log-level-console=warn check",
                     timeout=120)
        if p.returncode != 0:
            raise DrillError(f"pgbackrest check: {(p.stderr or p.stdout).strip()[-300:]}")
        tl.mark("checked")
        info = lab.sudo(spare, f"runuser -u postgres -- pgbackrest --stanza={stanza} --output=json info", timeout=60)
        try:
            backups = json.loads(info.stdout)[0].get("backup", [])
            res["backup"] = backups[-1]["label"] if backups else None
        except (json.JSONDecodeError, IndexError, KeyError):
            res["backup"] = None
        sock = f"{RESTORE_DIR}/sock"
        data = f"{RESTORE_DIR}/data"
        script = f"""set -euo pipefail
if [ -f {data}/postmaster.pid ]; then
  runuser -u postgres -- {bindir}/pg_ctl -D {data} -m immediate -w -t 30 stop || true
fi
rm -rf {RESTORE_DIR}
install -d -o postgres -g postgres -m 0700 {RESTORE_DIR} {data} {sock}
runuser -u postgres -- pgbackrest --stanza={stanza} --pg1-path={data} --type=name --target={point} \\
  --target-action=promote --archive-mode=off --log-level-console=warn restore
# Synchronous WAL fetch for the scratch copy (the node's async spool belongs to its own replica).
echo "restore_command = 'pgbackrest --stanza={stanza} --pg1-path={data} --archive-async=n archive-get %f \\"%p\\"'" \\
  >> {data}/postgresql.auto.conf
du -sm {data} | cut -f1
"""
        p = lab.sudo(spare, script, timeout=600)
        if p.returncode != 0:
            raise DrillError(f"pgbackrest restore on {spare}: {(p.stderr or p.stdout).strip()[-400:]}")
        res["restored_mb"] = int((p.stdout.split() or ["0"])[-1])
        tl.mark("restored")
        # hot_standby=off: a hot standby must have max_connections (and the other WAL-logged limits)
        # at least the primary's at every point of the replayed WAL, else recovery pauses for good
        # (seen: the WAL held a max_connections=120 period that the backup's configuration predates).
        # Without hot standby PostgreSQL does not check them; the copy is queried once promoted.
        opts = (f"-c port={RESTORE_PORT} -c listen_addresses='' -c unix_socket_directories={sock} "
                "-c archive_mode=off -c shared_buffers=32MB -c synchronous_standby_names='' "
                "-c primary_conninfo='' -c cluster_name=restore-drill -c hot_standby=off")
        start = (f"runuser -u postgres -- {bindir}/pg_ctl -D {data} -l {RESTORE_DIR}/postgres.log "
                 f"-o {quote(opts)} -w -t 300 start >/dev/null && head -1 {data}/postmaster.pid")
        started = True
        p = lab.sudo(spare, start, timeout=320)
        if p.returncode != 0:
            tail = lab.sudo(spare, f"tail -n 15 {RESTORE_DIR}/postgres.log").stdout
            raise DrillError(f"scratch postgres did not start: {tail.strip()[-600:]}")
        res["scratch_pid"] = p.stdout.strip()
        q = f"runuser -u postgres -- psql -h {sock} -p {RESTORE_PORT} -XAtq -d {quote(client.database)} -c "

        def promoted() -> bool:
            return lab.sudo(spare, q + quote("SELECT pg_is_in_recovery()"), timeout=10).stdout.strip() == "f"

        if not wait_for(promoted, 300, 2):
            tail = lab.sudo(spare, f"tail -n 12 {RESTORE_DIR}/postgres.log").stdout
            raise DrillError(f"the restored copy did not finish recovery within 300 s: {tail.strip()[-900:]}")
        tl.mark("recovered")
        got = lab.sudo(spare, q + quote(checksum), timeout=60).stdout.strip()
        res.update({"source": src, "restored": got})
    finally:
        if started:
            lab.sudo(spare, f"""pid=$(head -1 {RESTORE_DIR}/data/postmaster.pid 2>/dev/null || true)
runuser -u postgres -- {bindir}/pg_ctl -D {RESTORE_DIR}/data -m fast -w -t 60 stop >/dev/null 2>&1 || true
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi""", timeout=90)
        lab.sudo(spare, f"rm -rf {RESTORE_DIR}", timeout=60)
        client.psql(f"DROP TABLE IF EXISTS {table}", timeout=20)
        client.close()
    seconds = round(time.monotonic() - t0, 2)
    res["seconds"] = seconds
    res["acked_lost"] = 0
    res["timeline"] = tl.rel("start")
    res["matches"] = bool(res.get("source")) and res.get("source") == res.get("restored")
    res["passed"] = res["matches"]
    return res
