"""Operator changes on the lab, applied as `pulumi up` applies them: for each, `scripts/lab preview
--set ...` names exactly the expected resources, `scripts/lab up --set ...` runs exactly those steps
and nothing else, the change is live on the hosts, and `scripts/verify` passes. Each test then
restores the converged lab with a plain `up --no-verify` (Pulumi.lab.yaml as it is), which itself
must run only the reverting steps, so later tests see the normal lab.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

import pytest

from scripts.lablib.api import ssh_run
from scripts.program import stack_config
from tests.integration.conftest import lab, last_json

pytestmark = pytest.mark.integration

REPLACE = "replace"


def sets(overlay: Mapping[str, Any]) -> list[str]:
    args = []
    for key, value in overlay.items():
        args += ["--set", f"{key}={json.dumps(value)}"]
    return args


def step_status(step: str) -> str:
    """The full status line of a step's last run (`up` shortens it), from the lab state."""
    from scripts.lablib.labconfig import state_path
    from scripts.lablib.state import read

    rec = next(r for r in read(state_path())["resources"].values() if r["name"] == step)
    return next(ln for ln in reversed(rec["outputs"]["stdout"].splitlines()) if ln.startswith("platform-step:"))


def preview(overlay: Mapping[str, Any] | None = None) -> dict[str, Any]:
    p = lab("preview", *sets(overlay or {}), timeout=300)
    print(p.stdout[-3000:])
    return last_json(p.stdout)


def up(overlay: Mapping[str, Any] | None = None, verify: bool = True) -> tuple[dict[str, Any], str]:
    t = time.monotonic()
    p = lab("up", *sets(overlay or {}), *([] if verify else ["--no-verify"]), timeout=1500, check=False)
    summary = last_json(p.stdout)
    print(f"up {overlay or '(converged config)'}: {time.monotonic() - t:.1f} s, ran {summary.get('ran')}")
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-3000:]
    assert summary["failed"] == 0, summary
    if verify:
        assert summary["verify_failed"] == 0 and summary["verify_passed"] > 0, summary
    return summary, p.stdout


def check_plan(got: dict[str, Any], plan: Mapping[str, str]) -> None:
    assert got["plan"] == dict(plan), f"plan {got['plan']} != expected {dict(plan)}"


@contextmanager
def changed(overlay: Mapping[str, Any], plan: Mapping[str, str], steps: list[str],
            revert_plan: Mapping[str, str] | None = None) -> Iterator[None]:
    """Preview and apply `overlay`, then the test checks the live change; then the revert
    (preview and up with the converged config), which must run the same steps."""
    t0 = time.monotonic()
    check_plan(preview(overlay), plan)
    try:
        summary, _ = up(overlay)
        check_plan(summary, plan)
        assert summary["ran"] == sorted(steps), f"ran {summary['ran']}, expected {sorted(steps)}"
        yield
    finally:
        back_preview = preview()
        # The revert is checked by the test (the change gone on the hosts); the whole checklist runs
        # again in the next test's `up` and in the verify tests after these (one run saves ~45 s).
        back, _ = up(verify=False)
        print(f"change + revert: {time.monotonic() - t0:.1f} s")
    want_back = dict(revert_plan if revert_plan is not None else plan)
    check_plan(back_preview, want_back)
    check_plan(back, want_back)
    assert back["ran"] == sorted(steps), back["ran"]


def sudo(host: str, cmd: str, timeout: float = 60) -> str:
    p = ssh_run(host, f"sudo sh -c {shlex.quote(cmd)}", timeout=timeout)
    assert p.returncode == 0, f"{host}: {cmd}: {p.stdout}{p.stderr}"
    return p.stdout


def psql(host: str, sql: str) -> str:
    return sudo(host, f"runuser -u postgres -- psql -h /var/run/postgresql -XAtc \"{sql}\" postgres").strip()


def cluster(host: str = "db-1") -> dict[str, dict[str, Any]]:
    out = sudo(host, "curl -s --max-time 5 --cacert /etc/patroni/tls/ca.crt https://$(hostname -I | awk '{print $1}')"
                     ":8008/cluster")
    return {m["name"]: m for m in json.loads(out)["members"]}


DBS = ("db-1", "db-2")


def test_postgres_restart_parameter_rolls_replica_first(lab_up: dict[str, Any]) -> None:
    before = cluster()
    leader = next(n for n, m in before.items() if m["role"] == "leader")
    replica = next(n for n in DBS if n != leader)
    started = {h: psql(h, "SELECT pg_postmaster_start_time()") for h in DBS}
    plan = {f"{h}-{s}": REPLACE for h in DBS for s in ("postgres", "pgbouncer")}  # max_connections -> pool size
    with changed({"postgres.maxConnections": 120}, plan, sorted(plan)):
        for h in DBS:
            assert psql(h, "SHOW max_connections") == "120", h
            assert psql(h, "SELECT pg_postmaster_start_time()") != started[h], f"{h} did not restart"
        after = cluster()
        assert not any(m.get("pending_restart") for m in after.values()), after
        assert after[leader]["role"] == "leader" and after[leader]["timeline"] == before[leader]["timeline"]
        # The first postgres step restarts the whole cluster: the replica, then the primary; the
        # second finds nothing pending any more.
        status = step_status("db-1-postgres")
        assert status.endswith(f"restarted {replica} (pending restart);restarted {leader} (pending restart)"), status
        assert "pending restart" not in step_status("db-2-postgres")
    for h in DBS:
        assert psql(h, "SHOW max_connections") == "100", h  # the revert is live too
    assert not any(m.get("pending_restart") for m in cluster().values())


def pgbouncer_modes(host: str) -> dict[str, str]:
    out = sudo(host, "runuser -u postgres -- env PGPASSFILE=/etc/prometheus-pgbouncer-exporter.pgpass "
                     "psql -h /run/pgbouncer -p 6432 -U postgres_exporter -d pgbouncer -XAF, -P footer=off "
                     "-c 'SHOW DATABASES'")
    rows = [ln.split(",") for ln in out.strip().splitlines()]
    head = rows[0]
    return {r[0]: r[head.index("pool_mode")] for r in rows[1:] if r[0] != "pgbouncer"}


def test_pgbouncer_pool_mode_for_one_database(lab_up: dict[str, Any]) -> None:
    # Pulumi.lab.yaml's own overrides (the contract tests' transaction-pooled `poolcheck`) stay.
    lab_overrides = dict(stack_config("lab")["postgres"].get("poolModeOverrides") or {})
    plan = {f"{h}-pgbouncer": REPLACE for h in DBS}
    with changed({"postgres.poolModeOverrides": {**lab_overrides, "odoo": "transaction"}}, plan, sorted(plan)):
        for h in DBS:
            modes = pgbouncer_modes(h)
            assert modes["odoo"] == "transaction", modes
            assert {m for d, m in modes.items() if d != "odoo" and d not in lab_overrides} == {"session"}, modes
    for h in DBS:
        modes = pgbouncer_modes(h)
        assert {m for d, m in modes.items() if d not in lab_overrides} == {"session"}, modes
        assert {d: modes[d] for d in lab_overrides} == lab_overrides, modes


def maxmemory(host: str) -> int:
    out = sudo(host, "pw=$(sed -n 's/^REDIS_PASSWORD=//p' /etc/default/prometheus-redis-exporter | tr -d '\"'); "
                     "REDISCLI_AUTH=$pw; export REDISCLI_AUTH; unset pw; "
                     "timeout 10 redis-cli --no-auth-warning --user exporter -h 127.0.0.1 INFO memory")
    return int(next(ln.split(":")[1] for ln in out.splitlines() if ln.startswith("maxmemory:")))


def test_redis_maxmemory(lab_up: dict[str, Any]) -> None:
    data = ("redis-1", "redis-2")
    before = {h: maxmemory(h) for h in data}
    plan = {f"{h}-redis": REPLACE for h in data}  # the Sentinels, exporters and backups stay as they are
    with changed({"redis.maxmemoryMb": 200}, plan, sorted(plan)):
        for h in data:
            assert maxmemory(h) == 200 * 1024 * 1024, h
    assert {h: maxmemory(h) for h in data} == before


def test_new_app_database(lab_up: dict[str, Any]) -> None:
    plan = {"platform-pg-app-reporting": "create", "db-1-databases": REPLACE,
            "db-1-pgbouncer": REPLACE, "db-2-pgbouncer": REPLACE}
    steps = ["db-1-databases", "db-1-pgbouncer", "db-2-pgbouncer"]
    try:
        with changed({"postgres.extraDatabases": ["poolcheck", "reporting"]}, plan, steps,
                     revert_plan={**plan, "platform-pg-app-reporting": "delete"}):
            leader = next(n for n, m in cluster().items() if m["role"] == "leader")
            assert psql(leader, "SELECT datname FROM pg_database WHERE datname = 'reporting'") == "reporting"
            for h in DBS:
                assert "reporting" in pgbouncer_modes(h)
            # Its login through the router is what verify's "app databases reachable" line checks
            # (it passed in `up`), with the password from the new stack output.
        # Removed from the config, the database is not dropped (data is never deleted by an apply),
        # but PgBouncer no longer serves it.
        leader = next(n for n, m in cluster().items() if m["role"] == "leader")
        assert psql(leader, "SELECT datname FROM pg_database WHERE datname = 'reporting'") == "reporting"
        for h in DBS:
            assert "reporting" not in pgbouncer_modes(h)
    finally:
        leader = next(n for n, m in cluster().items() if m["role"] == "leader")
        psql(leader, "DROP DATABASE IF EXISTS reporting")
        psql(leader, "DROP ROLE IF EXISTS reporting")


ALL = ("db-1", "db-2", "redis-1", "redis-2", "redis-3", "mon-1", "edge-1")  # Pulumi.lab.yaml


def test_firewall_admin_source_added(lab_up: dict[str, Any]) -> None:
    plan = {f"{h}-firewall": REPLACE for h in ALL}
    with changed({"ssh.adminSources": ["198.18.0.1/32", "198.18.0.250/32"]}, plan, sorted(plan)):
        for h in ALL:
            assert "198.18.0.250" in sudo(h, "nft list table inet platform"), h
    for h in ALL:
        assert "198.18.0.250" not in sudo(h, "nft list table inet platform"), h


MEMBERS = ("db-1", "db-2", "mon-1")  # etcd members, in the order of their steps


def etcd_unit(host: str) -> dict[str, Any]:
    out = sudo(host, "systemctl show -p MainPID -p InactiveEnterTimestampMonotonic -p ActiveEnterTimestampMonotonic "
                     "etcd; tr '\\0' '\\n' < /proc/$(systemctl show -p MainPID --value etcd)/environ "
                     "| grep -E '^ETCD_(HEARTBEAT_INTERVAL|ELECTION_TIMEOUT)='")
    return dict(ln.split("=", 1) for ln in out.split())


def test_etcd_timing_change_rolls(lab_up: dict[str, Any]) -> None:
    plan = {f"{h}-etcd": REPLACE for h in MEMBERS}
    overlay = {"postgres.etcdHeartbeatMs": 150, "postgres.etcdElectionTimeoutMs": 1500}
    def rolled(after: dict[str, dict[str, Any]]) -> None:
        spans = [(int(after[h]["InactiveEnterTimestampMonotonic"]), int(after[h]["ActiveEnterTimestampMonotonic"]), h)
                 for h in MEMBERS]
        print({h: round((ready - stop) / 1e6, 2) for stop, ready, h in spans})
        for (_, ready, h1), (stop, _, h2) in pairwise(spans):
            assert stop > ready, f"{h2} stopped before {h1} was back: restarts overlapped"

    before = {h: etcd_unit(h) for h in MEMBERS}
    with changed(overlay, plan, sorted(plan)):
        after = {h: etcd_unit(h) for h in MEMBERS}
        for h in MEMBERS:
            assert "restarted etcd (rolling" in step_status(f"{h}-etcd"), step_status(f"{h}-etcd")
            assert after[h]["MainPID"] != before[h]["MainPID"], f"{h}: etcd not restarted"
            timing = (after[h]["ETCD_HEARTBEAT_INTERVAL"].strip('"'), after[h]["ETCD_ELECTION_TIMEOUT"].strip('"'))
            assert timing == ("150", "1500"), after[h]
        rolled(after)
    back = {h: etcd_unit(h) for h in MEMBERS}
    for h in MEMBERS:
        assert back[h]["ETCD_HEARTBEAT_INTERVAL"].strip('"') == "100", back[h]
    rolled(back)
