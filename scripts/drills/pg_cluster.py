"""The PostgreSQL cluster as the drills see it: members and the leader (patronictl), replication,
health, etcd, history; the app client through the router and the drill's own table.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from components.postgres.names import etcd_members
from scripts.drills.common import PATRONI_CONFIG, DrillError, Lab, log, quote, wait_for
from scripts.drills.pg_clients import PgClient, Prober


def members(lab: Lab, prefer: str | None = None) -> list[dict[str, Any]] | None:
    """`patronictl list` as JSON from the first database VM that answers (None when none does)."""
    dbs = list(lab.settings.hosts["postgres"])
    if prefer:
        dbs.sort(key=lambda h: h.name != prefer)
    for h in dbs:
        p = lab.sudo(h, f"patronictl -c {PATRONI_CONFIG} list -f json", timeout=10)
        if p.returncode == 0:
            try:
                data = json.loads(p.stdout)
            except json.JSONDecodeError:
                continue
            if isinstance(data, list):
                return data
    return None


def leader_of(ms: list[dict[str, Any]] | None) -> str | None:
    for m in ms or []:
        if m.get("Role") == "Leader" and m.get("State") == "running":
            return str(m["Member"])
    return None


def is_replica(m: dict[str, Any]) -> bool:
    return m.get("Role") in ("Replica", "Sync Standby") and m.get("State") in ("running", "streaming")


def replication(lab: Lab, leader: str) -> dict[str, dict[str, Any]]:
    """pg_stat_replication on the leader: application_name -> {state, sync_state, lag_bytes}."""
    sql = ("SELECT application_name, state, sync_state, "
           "COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), -1)::bigint FROM pg_stat_replication")
    p = lab.sudo(leader, f"runuser -u postgres -- psql -h /var/run/postgresql -XAtq -F '|' -c {quote(sql)}",
                 timeout=10)
    out: dict[str, dict[str, Any]] = {}
    if p.returncode != 0:
        return out
    for line in p.stdout.splitlines():
        parts = line.split("|")
        if len(parts) == 4:
            out[parts[0]] = {"state": parts[1], "sync_state": parts[2], "lag_bytes": int(parts[3])}
    return out


def healthy(lab: Lab) -> dict[str, Any] | None:
    """Leader + every other member streaming (and one sync standby when synchronous): the roles."""
    ms = members(lab)
    leader = leader_of(ms)
    if not ms or not leader:
        return None
    replicas = [str(m["Member"]) for m in ms if m["Member"] != leader]
    if len(replicas) != len(lab.settings.hosts["postgres"]) - 1:
        return None
    if not all(is_replica(m) for m in ms if m["Member"] != leader):
        return None
    rep = replication(lab, leader)
    if any(rep.get(r, {}).get("state") != "streaming" or rep[r]["lag_bytes"] > 1024 * 1024 for r in replicas):
        return None
    if lab.settings.postgres.synchronous and replicas and not any(
            rep[r]["sync_state"] in ("sync", "quorum") for r in replicas):
        return None
    return {"leader": leader, "replicas": replicas, "timeline": next(
        (m.get("TL") for m in ms if m["Member"] == leader), None)}


def wait_healthy(lab: Lab, timeout: float = 180) -> dict[str, Any]:
    st = wait_for(lambda: healthy(lab), timeout, 2)
    if not st:
        raise DrillError(f"cluster not healthy (Leader + streaming replica) within {timeout:.0f} s: "
                         f"{members(lab)}")
    return st  # type: ignore[no-any-return]


def wait_rejoined(lab: Lab, name: str, timeout: float, as_replica: bool = True) -> bool:
    """`name` runs again: as a streaming replica of the current leader (or, as_replica=False, in any role)."""

    def ok() -> bool:
        ms = members(lab)
        leader = leader_of(ms)
        me = next((m for m in ms or [] if m.get("Member") == name), None)
        if not leader or not me:
            return False
        if leader == name:
            return not as_replica
        return is_replica(me) and replication(lab, leader).get(name, {}).get("state") == "streaming"

    return bool(wait_for(ok, timeout, 2))


def remediate(lab: Lab, old: str) -> list[str]:
    """Put the cluster back when the old leader did not rejoin (the run has already failed):
    restart its Patroni - stopping it releases a leader key it should not hold, so the most
    advanced member takes over - then, as a last resort, reinitialise it from the leader."""
    done: list[str] = []
    leader = leader_of(members(lab))
    if leader in (None, old):
        p = lab.sudo(old, "systemctl stop patroni", timeout=150)
        done.append(f"stopped patroni on {old} (exit {p.returncode})")
        leader = wait_for(lambda: (lambda n: n if n not in (None, old) else None)(leader_of(members(lab))), 90, 2)
        done.append(f"leader after stop: {leader}")
        p = lab.sudo(old, "systemctl start patroni", timeout=60)
        done.append(f"started patroni on {old} (exit {p.returncode})")
    else:
        p = lab.sudo(old, "systemctl restart patroni", timeout=150)
        done.append(f"restarted patroni on {old} (exit {p.returncode})")
    if wait_rejoined(lab, old, 120):
        done.append(f"{old} rejoined")
        return done
    leader = leader_of(members(lab))
    if leader and leader != old:
        cluster = quote(lab.settings.postgres.cluster_name)
        p = lab.sudo(leader, f"patronictl -c {PATRONI_CONFIG} reinit --force {cluster} {quote(old)}", timeout=120)
        done.append(f"reinit {old} from {leader} (exit {p.returncode})")
        done.append(f"{old} rejoined" if wait_rejoined(lab, old, 300) else f"{old} still not a replica")
    log("; ".join(done))
    return done


def etcd_healthy(lab: Lab) -> bool:
    members_ = etcd_members(lab.settings)
    eps = ",".join(f"https://{h.private_ip}:2379" for h in members_)
    cmd = (f"ETCDCTL_API=3 etcdctl --endpoints={eps} --cacert=/etc/etcd/tls/ca.crt --cert=/etc/etcd/tls/host.crt "
           "--key=/etc/etcd/tls/host.key --command-timeout=3s endpoint health -w json")
    p = lab.sudo(members_[-1], cmd, timeout=15)
    try:
        data = json.loads(p.stdout)
    except json.JSONDecodeError:
        return False
    return len(data) == len(members_) and all(e.get("health") for e in data)


def history_len(lab: Lab) -> int | None:
    for h in lab.settings.hosts["postgres"]:
        p = lab.sudo(h, f"patronictl -c {PATRONI_CONFIG} history -f json", timeout=10)
        if p.returncode == 0:
            try:
                return len(json.loads(p.stdout))
            except json.JSONDecodeError:
                pass
    return None


def app_client(lab: Lab, host: str | None = None, port: int | None = None) -> PgClient:
    apps: dict[str, Any] = lab.outputs.get("postgresApps") or {}
    if not apps:
        raise DrillError("stack outputs have no postgresApps (is the stack applied?)")
    name = next((d for d in lab.settings.postgres.databases if d in apps), sorted(apps)[0])
    app = apps[name]
    rhost, rport = str(lab.outputs["postgresRouter"]).rsplit(":", 1)
    return PgClient(app["database"], app["user"], app["password"], host or rhost, port or int(rport))

SETUP_SQL = """
CREATE SCHEMA IF NOT EXISTS platform_drill;
CREATE TABLE IF NOT EXISTS platform_drill.writes (
  run text NOT NULL, id bigint NOT NULL, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run, id));
CREATE TABLE IF NOT EXISTS platform_drill.load (k int PRIMARY KEY, v timestamptz, n int NOT NULL DEFAULT 0);
"""


def setup_tables(client: PgClient) -> None:
    p = wait_for(lambda: (lambda cp: cp if cp.returncode == 0 else None)(client.psql(SETUP_SQL, timeout=10)), 30, 2)
    if not p:
        raise DrillError(f"cannot create the drill tables through the router: {client.psql(SETUP_SQL).stderr[-300:]}")


def writer(client: PgClient, run: str, host: str | None = None, netns: str | None = None,
           interval: float = 0.1, name: str = "writer") -> Prober:
    def one(i: int) -> Any:
        return client.psql(f"INSERT INTO platform_drill.writes (run, id) VALUES ('{run}', {i})",
                           host=host, port=None if host is None else 5432, timeout=3, netns=netns)

    return Prober(one, interval=interval, name=name)


def present_ids(client: PgClient, run: str) -> set[int] | None:
    def q() -> set[int] | None:
        p = client.psql(f"SELECT id FROM platform_drill.writes WHERE run = '{run}'", timeout=15)
        if p.returncode != 0:
            return None
        return {int(x) for x in p.stdout.split()} or {-1}

    got = wait_for(q, 30, 2)
    return None if got is None else {i for i in got if i >= 0}


def cleanup_run(client: PgClient, run: str) -> None:
    client.psql(f"DELETE FROM platform_drill.writes WHERE run LIKE '{run}%'", timeout=10)


def new_run_id(kind: str) -> str:
    return f"{kind}-{time.strftime('%H%M%S')}-{secrets.token_hex(2)}"
