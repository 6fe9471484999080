"""PostgreSQL lines of the checklist: Patroni roles, replication lag, PgBouncer, app databases through
the router, backups, exporters, TLS enforcement and the firewall around the database VMs.

Passwords are never printed and never on a command line: app credentials reach psql through a
0600 PGPASSFILE (on this machine) or stdin (on a host).
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

from components.checks import FAIL, PASS, SKIP, Context, Row, check, first_line
from components.postgres import render as pg_render
from components.postgres.names import etcd_members
from components.router.render import router_hosts
from components.settings import Host

PATRONI_CONFIG = "/etc/patroni/config.yml"
SOCKET = "/var/run/postgresql"
LAG_LIMIT = 1024 * 1024


def _dbs(ctx: Context) -> tuple[Host, ...]:
    return ctx.settings.hosts["postgres"]


def _members(ctx: Context) -> tuple[Host | None, list[dict[str, Any]]]:
    """`patronictl list -f json` from the first database VM that answers (cached per run)."""
    if "pg_members" in ctx.notes:
        return ctx.notes["pg_members"]  # type: ignore[no-any-return]
    found: tuple[Host | None, list[dict[str, Any]]] = (None, [])
    for h in _dbs(ctx):
        p = ctx.sudo(h, f"patronictl -c {PATRONI_CONFIG} list -f json")
        if p.returncode == 0:
            try:
                found = (h, json.loads(p.stdout))
                break
            except json.JSONDecodeError:
                continue
    ctx.notes["pg_members"] = found
    return found


def _leader(ctx: Context) -> Host | None:
    _, ms = _members(ctx)
    name = next((m["Member"] for m in ms if m.get("Role") == "Leader" and m.get("State") == "running"), None)
    return ctx.host(name) if name else None


def leader_check(title: str) -> Callable[[Callable[[Context, Host], list[Row]]], Callable[[Context], list[Row]]]:
    """A postgres check that runs on the current leader (one FAIL row when there is none)."""
    def register(fn: Callable[[Context, Host], list[Row]]) -> Callable[[Context], list[Row]]:
        @functools.wraps(fn)
        def run(ctx: Context) -> list[Row]:
            leader = _leader(ctx)
            return [Row(FAIL, "-", "no running leader")] if leader is None else fn(ctx, leader)
        return check("postgres", title)(run)
    return register


def _psql_local_pg(ctx: Context, host: Host, sql: str) -> subprocess.CompletedProcess[str]:
    """psql as the postgres OS user over the node's socket (peer auth; no password)."""
    return ctx.sudo(host, f"runuser -u postgres -- psql -h {SOCKET} -XAtq -F '|' -c {shlex.quote(sql)}")


@check("postgres", "Patroni: Leader + streaming Replica")
def patroni_roles(ctx: Context) -> list[Row]:
    src, ms = _members(ctx)
    if src is None:
        return [Row(FAIL, "-", "patronictl list answered on no database VM")]
    summary = ", ".join(f"{m['Member']}={m.get('Role')}/{m.get('State')}/TL{m.get('TL')}" for m in ms)
    leaders = [m for m in ms if m.get("Role") == "Leader" and m.get("State") == "running"]
    replicas = [m for m in ms if m.get("Role") in ("Replica", "Sync Standby")
                and m.get("State") in ("running", "streaming")]
    rows = []
    ok = len(leaders) == 1 and len(ms) == len(_dbs(ctx))
    rows.append(Row(PASS if ok else FAIL, "cluster", summary))
    leader = _leader(ctx)
    if leader is None:
        return rows
    p = _psql_local_pg(ctx, leader, "SELECT application_name, state, sync_state FROM pg_stat_replication")
    streaming = {ln.split("|")[0]: ln.split("|")[1:] for ln in p.stdout.splitlines() if ln.count("|") == 2}
    for h in _dbs(ctx):
        if h.name == leader.name:
            continue
        st = streaming.get(h.name)
        good = st is not None and st[0] == "streaming" and any(m["Member"] == h.name for m in replicas)
        if ctx.settings.postgres.synchronous and len(_dbs(ctx)) > 1:
            sync = any(v[1] in ("sync", "quorum") for v in streaming.values())
        else:
            sync = True
        rows.append(Row(PASS if good and sync else FAIL, h.name,
                        f"pg_stat_replication on {leader.name}: state={st[0]} sync_state={st[1]}" if st
                        else f"not in pg_stat_replication on {leader.name} {first_line(p.stderr)}"))
    return rows


@leader_check("replication lag < 1 MB")
def replication_lag(ctx: Context, leader: Host) -> list[Row]:
    p = _psql_local_pg(ctx, leader, "SELECT application_name, "
                       "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint FROM pg_stat_replication")
    lags = {ln.split("|")[0]: ln.split("|")[1] for ln in p.stdout.splitlines() if "|" in ln}
    rows = []
    for h in _dbs(ctx):
        if h.name == leader.name:
            continue
        v = lags.get(h.name, "")
        ok = v.lstrip("-").isdigit() and int(v) < LAG_LIMIT
        rows.append(Row(PASS if ok else FAIL, h.name, f"replay lag {v} bytes behind {leader.name}" if v
                        else f"no replication row {first_line(p.stderr)}"))
    return rows


@check("postgres", "PgBouncer accepting on 6432")
def pgbouncer_accepting(ctx: Context) -> list[Row]:
    rows = []
    for h in _dbs(ctx):
        p = ctx.run(h, f"pg_isready -h {h.private_ip} -p 6432 -t 3")
        rows.append(Row(PASS if p.returncode == 0 else FAIL, h.name,
                        first_line(p.stdout or p.stderr) or f"exit {p.returncode}"))
    return rows


def _router_client(ctx: Context) -> tuple[str, Host | None]:
    """Where psql runs for router checks: an edge VM that has psql (to its own router), else this
    machine (an admin source, allowed to the router)."""
    for h in router_hosts(ctx.settings):
        if ctx.run(h, "command -v psql >/dev/null").returncode == 0:
            return h.name, h
    if shutil.which("psql"):
        return "local", None
    return "", None


@check("postgres", "app databases reachable through the router")
def apps_through_router(ctx: Context) -> list[Row]:
    apps: dict[str, Any] = ctx.outputs.get("postgresApps") or {}
    router = ctx.outputs.get("postgresRouter")
    if not apps or not router:
        return [Row(SKIP, "-", "no postgresApps/postgresRouter outputs (pass --outputs with secrets)")]
    rhost, rport = str(router).rsplit(":", 1)
    where, client = _router_client(ctx)
    if not where:
        return [Row(FAIL, "-", "no psql on the router hosts nor on this machine")]
    sql = "SELECT current_database() || ' as ' || current_user || ' rw=' || (NOT pg_is_in_recovery())::text"
    rows = []
    for name in sorted(apps):
        app = apps[name]
        conn = (f"host={rhost} port={rport} dbname={app['database']} user={app['user']} "
                "sslmode=require connect_timeout=5")
        line = "*:*:*:{}:{}\n".format(*(str(v).replace("\\", "\\\\").replace(":", "\\:")
                                        for v in (app["user"], app["password"])))
        if client is not None:
            cmd = ("set -e; f=$(mktemp); trap 'rm -f \"$f\"' EXIT; cat >\"$f\"; "
                   f"PGPASSFILE=\"$f\" psql {shlex.quote(conn)} -XAtq -c {shlex.quote(sql)} -c '\\conninfo'")
            p = ctx.run(client, cmd, stdin=line)
        else:
            d = tempfile.mkdtemp(prefix="platform-verify-")
            try:
                pf = os.path.join(d, "pgpass")
                fd = os.open(pf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(line)
                env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"} | {"PGPASSFILE": pf}
                try:
                    p = subprocess.run(["psql", conn, "-XAtq", "-c", sql, "-c", "\\conninfo"], text=True,
                                       capture_output=True, timeout=ctx.timeout, env=env)
                except subprocess.TimeoutExpired:
                    p = subprocess.CompletedProcess([], 124, "", "timed out")
            finally:
                shutil.rmtree(d, ignore_errors=True)
        out = p.stdout.strip().splitlines()
        tls = next((ln.split("(")[1].split(",")[0] for ln in out if ln.startswith("SSL connection (")), "")
        ok = p.returncode == 0 and bool(out) and out[0] == f"{app['database']} as {app['user']} rw=true" and bool(tls)
        rows.append(Row(PASS if ok else FAIL, name, f"{out[0]}, TLS {tls} (psql from {where} to {router})" if ok
                        else f"exit {p.returncode}: {first_line(p.stderr or p.stdout)}"))
    return rows


@leader_check("role passwords stored as SCRAM with postgres.scramIterations")
def scram_verifiers(ctx: Context, leader: Host) -> list[Row]:
    want = str(ctx.settings.postgres.scram_iterations)
    roles = ",".join(f"'{d}'" for d in ctx.settings.postgres.databases)
    p = _psql_local_pg(ctx, leader, "SELECT rolname, CASE WHEN rolpassword LIKE 'SCRAM-SHA-256$%' THEN "
                       "split_part(split_part(rolpassword, '$', 2), ':', 1) ELSE 'not SCRAM' END "
                       f"FROM pg_authid WHERE rolname IN ({roles}) ORDER BY 1")
    if p.returncode != 0:
        return [Row(FAIL, leader.name, first_line(p.stderr) or f"exit {p.returncode}")]
    got = dict(ln.split("|", 1) for ln in p.stdout.splitlines() if "|" in ln)
    bad = {r: i for r, i in got.items() if i != want}
    missing = sorted(set(ctx.settings.postgres.databases) - set(got))
    ok = not bad and not missing
    return [Row(PASS if ok else FAIL, leader.name, f"{len(got)} app roles at {want} iterations" if ok
                else f"want {want}: {bad or ''} {'missing ' + ', '.join(missing) if missing else ''}".strip())]


@leader_check("pgBackRest: a completed full backup")
def full_backup(ctx: Context, leader: Host) -> list[Row]:
    st = ctx.settings.postgres.cluster_name
    p = ctx.sudo(leader, f"runuser -u postgres -- pgbackrest --stanza={st} --output=json info", timeout=60)
    try:
        info = json.loads(p.stdout)[0]
    except (json.JSONDecodeError, IndexError):
        return [Row(FAIL, leader.name, f"pgbackrest info: exit {p.returncode} {first_line(p.stderr or p.stdout)}")]
    fulls = [b for b in info.get("backup", []) if b.get("type") == "full" and not b.get("error")]
    status = info.get("status", {}).get("message", "?")
    if not fulls:
        return [Row(FAIL, leader.name, f"stanza {st}: status {status}, no completed full backup")]
    b = fulls[-1]
    arch = (info.get("archive") or [{}])[-1]
    return [Row(PASS if info.get("status", {}).get("code") == 0 else FAIL, leader.name,
                f"{b['label']} {b.get('info', {}).get('size', 0) // 1048576} MB, {len(fulls)} full, "
                f"WAL archive up to {arch.get('max', '?')}, status {status}")]


@check("postgres", "postgres_exporter up (from monitoring)")
def exporter_up(ctx: Context) -> list[Row]:
    mon = ctx.settings.hosts["monitoring"][0]
    rows = []
    for h in _dbs(ctx):
        # Up to 3 scrapes, 1 s apart: the exporter keeps one connection, and the first scrape after
        # PostgreSQL restarted (a failover) reports pg_up 0 while it reconnects; Prometheus would too.
        for _ in range(3):
            p = ctx.run(mon, f"curl -sS --max-time 5 http://{h.private_ip}:9187/metrics | grep -E '^pg_up ' || true")
            val = p.stdout.strip().split()[-1] if p.stdout.strip() else ""
            if val == "1":
                break
            time.sleep(1)
        rows.append(Row(PASS if val == "1" else FAIL, h.name,
                        f"pg_up {val} from {mon.name}" if val else first_line(p.stderr) or "no pg_up sample"))
    return rows


@check("postgres", "PgBouncer exporter up (from monitoring)")
def pgbouncer_exporter_up(ctx: Context) -> list[Row]:
    """prometheus-pgbouncer-exporter has no `up` metric: `pgbouncer_databases` (SHOW LISTS) is
    served only after it read PgBouncer's admin console, and counts the databases of
    pgbouncer.ini (the apps' and `postgres`, for Odoo's bus) plus the admin console itself."""
    mon = ctx.settings.hosts["monitoring"][0]
    want = len(ctx.settings.postgres.databases) + 2
    rows = []
    for h in _dbs(ctx):
        p = ctx.run(mon, f"curl -sS --max-time 5 http://{h.private_ip}:{pg_render.PGBOUNCER_EXPORTER_PORT}/metrics "
                         "| grep -E '^pgbouncer_(databases|used_clients) ' || true")
        got = dict(ln.split(" ", 1) for ln in p.stdout.strip().splitlines() if " " in ln)
        val = got.get("pgbouncer_databases", "")
        try:
            ok = float(val) == want
        except ValueError:
            ok = False
        rows.append(Row(PASS if ok else FAIL, h.name,
                        f"pgbouncer_databases {val} (want {want}), pgbouncer_used_clients "
                        f"{got.get('pgbouncer_used_clients', '?')} from {mon.name}" if val
                        else first_line(p.stderr) or "no pgbouncer_databases sample"))
    return rows


@check("postgres", "TLS enforced for remote clients (pg_hba)")
def tls_enforced(ctx: Context) -> list[Row]:
    """From another database VM (allowed through the firewall): without TLS pg_hba rejects the
    connection; with TLS the same connection reaches password authentication."""
    dbs = _dbs(ctx)
    sources = list(dbs) + list(etcd_members(ctx.settings))
    rows = []
    for target in dbs:
        src = next((h for h in sources if h.name != target.name), None)
        if src is None:
            rows.append(Row(SKIP, target.name, "no other VM allowed to 5432"))
            continue
        base = f"host={target.private_ip} port=5432 dbname=postgres user=postgres connect_timeout=5"
        cmd = (f"unset PGPASSWORD; psql -w {shlex.quote(base + ' sslmode=disable')} -c 'select 1' 2>&1; "
               f"echo '--'; psql -w {shlex.quote(base + ' sslmode=require')} -c 'select 1' 2>&1; true")
        p = ctx.run(src, f"HOME=/nonexistent PGPASSFILE=/dev/null bash -c {shlex.quote(cmd)}")
        plain, _, tls = p.stdout.partition("--")
        rejected = "pg_hba.conf" in plain and ("no encryption" in plain or "SSL off" in plain)
        reached = "password" in tls.lower() and "pg_hba.conf" not in tls
        rows.append(Row(PASS if rejected and reached else FAIL, target.name,
                        f"from {src.name}: sslmode=disable -> "
                        f"{'pg_hba.conf rejects connection, no encryption' if rejected else first_line(plain, 80)}; "
                        f"sslmode=require -> {first_line(tls.split('failed:')[-1], 60)}"))
    return rows


def _tcp(ctx: Context, src: Host, ip: str, port: int) -> str:
    """'open' or the error of a TCP connect from `src` (3 s bound)."""
    p = ctx.run(src, f"timeout 3 bash -c 'exec 3<>/dev/tcp/{ip}/{port}' 2>&1 && echo open || echo \"closed rc=$?\"")
    out = p.stdout.strip().splitlines()
    if out and out[-1] == "open":
        return "open"
    reason = next((ln.split(":")[-1].strip() for ln in out if "connect" in ln.lower() or ":" in ln), "")
    return f"refused ({reason or (out[-1] if out else '?')})"


@check("postgres", "etcd: every member healthy, raft leader on the witness")
def etcd_members_healthy(ctx: Context) -> list[Row]:
    members = etcd_members(ctx.settings)
    eps = ",".join(f"https://{h.private_ip}:2379" for h in members)
    src = members[0]
    witness = ctx.settings.postgres.etcd_witness
    # The witness takes the leader back within 30 s of an election (platform-etcd-leader.timer):
    # look again for up to 40 s before calling it a failure.
    deadline = time.monotonic() + 40
    while True:
        p = ctx.sudo(src, f"ETCDCTL_API=3 etcdctl --endpoints={eps} --cacert=/etc/etcd/tls/ca.crt "
                          "--cert=/etc/etcd/tls/host.crt --key=/etc/etcd/tls/host.key --command-timeout=5s "
                          "endpoint status")
        if p.returncode != 0:
            return [Row(FAIL, src.name, first_line(p.stderr) or f"exit {p.returncode}")]
        # ENDPOINT, ID, VERSION, DB SIZE, IS LEADER, ...
        rows = [ln.split(", ") for ln in p.stdout.splitlines() if ln.count(", ") >= 5]
        leader = next((r[0] for r in rows if r[4] == "true"), "")
        want = f"https://{ctx.host(witness).private_ip}:2379" if witness else leader
        ok = len(rows) == len(members) and bool(leader) and leader == want
        if ok or time.monotonic() > deadline:
            break
        time.sleep(5)
    return [Row(PASS if ok else FAIL, witness or src.name,
                f"{len(rows)}/{len(members)} members answer, leader {leader or 'none'}"
                + ("" if ok or not witness else f" (want {want})"))]


@check("postgres", "firewall: 5432/6432 refuse other VMs")
def firewall_db(ctx: Context) -> list[Row]:
    """At the same moment a port answers an allowed source and is refused to a non-allowed one."""
    allowed_5432 = {h.name for h in etcd_members(ctx.settings)}
    allowed_6432 = {h.name for h in router_hosts(ctx.settings)}
    others = [h for h in ctx.settings.hosts.all()
              if h.name not in allowed_5432 | allowed_6432 and h.role not in ("k3sServers", "k3sAgents")]
    if not others:
        return [Row(SKIP, "-", "no VM outside the allowed sources")]
    outsider = others[0]
    rows = []
    for target in _dbs(ctx):
        checks = []
        for port, allowed in ((5432, allowed_5432), (6432, allowed_6432)):
            src = next((ctx.host(n) for n in sorted(allowed) if n != target.name), None)
            good = _tcp(ctx, src, target.private_ip, port) if src else "no allowed source"
            bad = _tcp(ctx, outsider, target.private_ip, port)
            ok = good == "open" and bad.startswith("refused")
            checks.append((ok, f"{port}: {src.name if src else '-'} {good}, {outsider.name} {bad}"))
        rows.append(Row(PASS if all(c[0] for c in checks) else FAIL, target.name, "; ".join(c[1] for c in checks)))
    return rows
