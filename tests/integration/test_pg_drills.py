"""PostgreSQL on the lab for real: the verify lines, then each drill once (scripts/drill --runs 1).

The drills report their own targets in `passed`; the assertions here are what must hold on every
run even on a loaded CI machine: no acknowledged write lost, the old leader back as a replica, a
failover within a bound, the isolated leader refusing writes within ttl, a restore that matches.
Timing targets that depend on the machine (and on open component issues) are printed, not asserted.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TTL = 20  # Pulumi.lab.yaml: the prod-ha default


def run_json(argv: list[str], timeout: float) -> tuple[int, list[dict[str, Any]], str]:
    cp = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    lines = [json.loads(ln) for ln in cp.stdout.splitlines() if ln.startswith("{")]
    return cp.returncode, lines, cp.stdout[-3000:] + cp.stderr[-3000:]


def drill(name: str, timeout: float = 400) -> tuple[dict[str, Any], dict[str, Any]]:
    rc, lines, out = run_json([str(ROOT / "scripts/drill"), name, "--stack", "lab", "--runs", "1"], timeout)
    assert len(lines) == 2, f"scripts/drill {name}: expected one run and a summary:\n{out}"
    run, summary = lines
    print(json.dumps(summary))
    assert summary["drill"] == name and summary["runs"] == 1
    assert (rc == 0) == summary["passed"], out
    assert "error" not in run, f"{name} could not run: {run.get('error')}\n{out}"
    return run, summary


def test_verify_postgres_group(lab_up: dict[str, Any]) -> None:
    rc, lines, out = run_json([str(ROOT / "scripts/verify"), "--stack", "lab", "--group", "postgres"], 300)
    assert rc == 0, out
    assert lines[-1]["failed"] == 0 and lines[-1]["passed"] >= 10, out


def test_pg_crash(lab_up: dict[str, Any]) -> None:
    # First of the drills: its alert (PostgresCrashed) is the critical one for a crash; a failover
    # before it would not hold it (PostgresCrashed resolves within a minute) but would inhibit it.
    run, summary = drill("pg-crash")
    assert summary["acked_lost_total"] == 0
    assert run["old_leader_rejoined"] and run["etcd_healthy"]
    assert run["seconds"] is not None and run["seconds"] < 60


def test_pg_switchover(lab_up: dict[str, Any]) -> None:
    run, summary = drill("pg-switchover")
    assert summary["acked_lost_total"] == 0
    assert run["new_leader"] == run["candidate"] != run["old_leader"]
    assert run["old_leader_rejoined"] and run["etcd_healthy"]
    assert run["seconds"] is not None and run["seconds"] < 60


def test_pg_patroni_crash(lab_up: dict[str, Any]) -> None:
    run, summary = drill("pg-patroni-crash")
    assert summary["acked_lost_total"] == 0
    assert not run["failed_over"], run
    assert run["healthy_after"], f"no synchronous standby again after Patroni restarted: {run}"


def test_pg_node_death(lab_up: dict[str, Any]) -> None:
    run, summary = drill("pg-node-death", timeout=600)
    assert summary["acked_lost_total"] == 0
    assert run["failed_over"] and run["new_leader"] != run["old_leader"]
    assert run["old_leader_rejoined"] and run["etcd_healthy"]
    assert run["seconds"] is not None and run["seconds"] < 3 * TTL


def test_pg_partition(lab_up: dict[str, Any]) -> None:
    run, summary = drill("pg-partition", timeout=600)
    assert summary["acked_lost_total"] == 0
    assert run["split_brain_writes"] == 0
    assert run["old_leader_refused_after"] is not None and run["old_leader_refused_after"] <= TTL
    assert run["new_leader"] != run["old_leader"]
    # The old leader comes back as a replica by itself (no repair), after exactly one failover:
    # Patroni 3.0.2 used to re-take the leader key after the link came back (the launcher's
    # backport), and the healed etcd member used to depose the raft leader (pre-vote).
    assert run["old_leader_rejoined"] and run.get("remediation") is None, run
    assert run["new_timelines"] == 1, run


def test_pg_leader_stall(lab_up: dict[str, Any]) -> None:
    # Issue 14's targets (writes back <= 20 s, rejoined <= 15 s after the resume) are reported in
    # `passed`; what must hold on every run: nothing acknowledged lost, a failover, the stalled
    # leader back as a streaming replica by itself.
    run, summary = drill("pg-leader-stall", timeout=600)
    assert summary["acked_lost_total"] == 0
    assert run["failed_over"] and run["new_leader"] != run["old_leader"], run
    assert run["old_leader_rejoined"] and run["etcd_healthy"], run
    assert run["seconds"] is not None and run["seconds"] < 3 * TTL


def test_pg_restore(lab_up: dict[str, Any]) -> None:
    run, summary = drill("pg-restore")
    assert run["matches"], f"restored {run.get('restored')} != source {run.get('source')}"
    assert summary["passed"]
