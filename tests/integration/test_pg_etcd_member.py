"""etcd membership after bootstrap, on the lab: the witness VM is rebuilt (its etcd data gone) and
the next apply makes it a member again - its stale entry removed, added with `member add`, started
as "existing" - instead of a member that tries to bootstrap a cluster of its own forever.

These are repairs of state the program's inputs do not describe, so - as with `pulumi up`, which
has no refresh for pulumi-command - a plain `up` runs nothing; the operator replaces the steps
concerned (`scripts/lab up --replace STEP`, `pulumi up --replace URN`)."""

from __future__ import annotations

from typing import Any

import pytest

from scripts.lablib.api import ssh_run
from tests.integration.conftest import lab, last_json

pytestmark = pytest.mark.integration

WITNESS, DB = "mon-1", "db-1"  # Pulumi.lab.yaml
DATA_DIR = "/var/lib/etcd/platform-pg"
ETCDCTL = ("ETCDCTL_API=3 etcdctl --endpoints=https://198.18.0.11:2379,https://198.18.0.12:2379,"
           "https://198.18.0.31:2379 --cacert=/etc/etcd/tls/ca.crt --cert=/etc/etcd/tls/host.crt "
           "--key=/etc/etcd/tls/host.key --command-timeout=5s")


def step_line(out: str, step: str) -> str:
    return next((ln for ln in out.splitlines() if f"] {step} " in ln), "")


def test_rebuilt_witness_rejoins_etcd(lab_up: dict[str, Any]) -> None:
    before = ssh_run(DB, f"sudo sh -c '{ETCDCTL} member list'", timeout=30)
    assert before.returncode == 0, before.stderr
    old_id = next(ln.split(",")[0] for ln in before.stdout.splitlines() if f", {WITNESS}, " in ln)

    wipe = ssh_run(WITNESS, f"sudo sh -c 'systemctl stop etcd && rm -rf {DATA_DIR}'", timeout=60)
    assert wipe.returncode == 0, wipe.stderr
    assert last_json(lab("preview", timeout=300).stdout)["plan"] == {}  # invisible to the engine
    up = lab("up", "--replace", f"{WITNESS}-etcd", timeout=1200, check=False)
    assert up.returncode == 0, up.stdout[-6000:] + up.stderr[-3000:]
    assert last_json(up.stdout)["ran"] == [f"{WITNESS}-etcd"]
    # `lab up` shortens each step's list of changes; these come first.
    line = step_line(up.stdout, f"{WITNESS}-etcd")
    assert "removed this host's stale etcd member" in line and "/etc/etcd/join.env" in line, up.stdout[-6000:]
    assert last_json(up.stdout)["verify_failed"] == 0

    after = ssh_run(DB, f"sudo sh -c '{ETCDCTL} member list && {ETCDCTL} endpoint health'", timeout=60)
    assert after.returncode == 0, after.stdout + after.stderr
    members = [ln for ln in after.stdout.splitlines() if ", started, " in ln]
    assert sorted(ln.split(", ")[2] for ln in members) == ["db-1", "db-2", WITNESS], after.stdout
    assert old_id not in after.stdout  # the stale entry is gone, not kept beside the new one
    # etcdctl 3.4 prints endpoint health on stderr.
    assert (after.stdout + after.stderr).count("is healthy") == 3, after.stdout + after.stderr

    again = lab("up", "--replace", f"{WITNESS}-etcd", timeout=1200)
    assert "unchanged" in step_line(again.stdout, f"{WITNESS}-etcd"), again.stdout[-4000:]


def test_unconfigured_member_is_removed(lab_up: dict[str, Any]) -> None:
    # A member the configuration no longer has (here: one that never started, as a replaced
    # witness would leave behind) still counts towards quorum; the next apply removes it.
    add = ssh_run(DB, f"sudo sh -c '{ETCDCTL} member add ghost --peer-urls=https://198.18.0.99:2380'", timeout=30)
    assert add.returncode == 0, add.stderr
    up = lab("up", "--replace", f"{DB}-etcd", timeout=1200)
    assert "not configured" in up.stdout, up.stdout[-4000:]
    after = ssh_run(DB, f"sudo sh -c '{ETCDCTL} member list'", timeout=30)
    assert "198.18.0.99" not in after.stdout and after.stdout.count(", started, ") == 3, after.stdout


MEMBERS = ("db-1", "db-2", WITNESS)  # the order of their steps (Pulumi.lab.yaml)
REPLACE_ETCD = [a for h in MEMBERS for a in ("--replace", f"{h}-etcd")]


def main_pid(host: str) -> str:
    p = ssh_run(host, "systemctl show -p MainPID --value etcd", timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_bootstrap_settings_restart_nothing(lab_up: dict[str, Any]) -> None:
    # Only ETCD_INITIAL_* differ (as on every member when one is replaced): nothing restarts.
    # (A setting etcd uses rolls: tests/integration/test_lab_changes.py, etcd timing.)
    before = {h: main_pid(h) for h in MEMBERS}
    for h in MEMBERS:
        p = ssh_run(h, "sudo sed -i 's/^ETCD_INITIAL_CLUSTER_TOKEN=.*/ETCD_INITIAL_CLUSTER_TOKEN=\"other\"/' "
                       "/etc/default/etcd", timeout=30)
        assert p.returncode == 0, p.stderr
    up = lab("up", *REPLACE_ETCD, timeout=1200)
    for h in MEMBERS:
        assert "only bootstrap settings" in step_line(up.stdout, f"{h}-etcd"), up.stdout[-4000:]
        assert main_pid(h) == before[h], f"{h}: etcd restarted"
