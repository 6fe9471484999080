"""`scripts/backups --stack lab` on the real lab: right after `scripts/lab up` every store the lab
runs is OK (PostgreSQL, Redis, MariaDB; K3s OFF) and the Nextcloud bucket is versioned; with the
Redis backup timer stopped and the report's clock moved past the Redis schedule, Redis reads LATE
and the exit code is non-zero. (Each restore drill's record in the report: test_*_drills.py.)"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest

from components.redis.alerts import backup_max_age_seconds
from components.redis.checks import BACKUP_UNIT
from components.redis.names import data_hosts
from scripts.drills.common import ROOT, Lab
from scripts.lablib.api import ssh_run

pytestmark = pytest.mark.integration
TIMER = BACKUP_UNIT.replace(".service", ".timer")


def report(*extra: str) -> tuple[int, dict[str, Any]]:
    cp = subprocess.run([str(ROOT / "scripts/backups"), "--stack", "lab", "--json", *extra], capture_output=True,
                        text=True, timeout=300, check=False)
    print(cp.stdout[-3000:], cp.stderr[-3000:])
    return cp.returncode, json.loads(cp.stdout.strip().splitlines()[-1])


def stores(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["store"]: s for s in doc["stores"]}


def test_every_store_ok_after_lab_up(lab_up: dict[str, Any]) -> None:
    rc, doc = report()
    got = {k: v["status"] for k, v in stores(doc).items()}
    assert got == {"postgres": "OK", "redis": "OK", "mariadb": "OK", "k3s-etcd": "OFF"}, doc
    assert rc == 0 and doc["failing"] == []
    assert doc["nextcloudBucketVersioning"] == "Enabled"
    for name in ("postgres", "redis", "mariadb"):
        s = stores(doc)[name]
        assert s["size_bytes"] and s["size_bytes"] > 0 and s["newest"], s
    # The text table for people, from the same facts.
    cp = subprocess.run([str(ROOT / "scripts/backups"), "--stack", "lab"], capture_output=True, text=True,
                        timeout=300, check=False)
    assert cp.returncode == 0 and "every store OK" in cp.stdout, cp.stdout + cp.stderr


def test_redis_late_when_its_backups_stop(lab_up: dict[str, Any]) -> None:
    lab = Lab("lab")
    hosts = [h.name for h in data_hosts(lab.settings)]  # the Sentinel-only VM takes no backups
    try:
        for h in hosts:
            p = ssh_run(h, f"sudo systemctl stop {TIMER}", timeout=30)
            assert p.returncode == 0, p.stderr
        later = time.time() + backup_max_age_seconds(lab.settings) + 60
        rc, doc = report("--now", str(later))
        assert stores(doc)["redis"]["status"] == "LATE", doc
        assert "redis" in doc["failing"] and rc == 1
    finally:
        for h in hosts:
            ssh_run(h, f"sudo systemctl start {TIMER}", timeout=30)
