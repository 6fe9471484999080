"""The backups report's pure part (components/backups.py): OK / LATE / MISSING against the limit,
the exit rule, the drill record, the table."""

from __future__ import annotations

import json

from components import backups as b
from components.postgres.alerts import backup_max_age_seconds as pg_max
from components.redis.alerts import backup_max_age_seconds as redis_max
from tests.unit.helpers import settings


def test_judge() -> None:
    assert b.judge(None, 1000.0, 100) == (b.MISSING, None)
    assert b.judge(950.0, 1000.0, 100) == (b.OK, 50.0)
    assert b.judge(899.0, 1000.0, 100) == (b.LATE, 101.0)
    assert b.judge(1100.0, 1000.0, 100) == (b.OK, 0.0)  # clock skew: not negative


def test_limits_follow_the_schedules() -> None:
    s = settings("prod-ha")
    # Redis: daily (30 2 * * *) plus 30 minutes; PostgreSQL: hourly incrementals plus 30 minutes.
    assert redis_max(s) == 86400 + 1800
    assert pg_max(s) == 3600 + 1800


def test_failing_and_json() -> None:
    now = 10_000.0
    reports = [b.report("postgres", (now - 60, "20261207-010000F (full)", 1234), now, 5400, "7 full", None),
               b.report("redis", (now - 90000, "dump-x.rdb", 99), now, 88200, "14 days", None),
               b.report("mariadb", None, now, 88200, "7 days", None),
               b.off("k3s-etcd", "k3s.enabled is false")]
    assert [r.status for r in reports] == [b.OK, b.LATE, b.MISSING, b.OFF]
    assert b.failing(reports) == ["redis", "mariadb"]
    doc = json.loads(b.as_json(reports))
    assert doc["failing"] == ["redis", "mariadb"] and doc["stores"][0]["size_bytes"] == 1234
    text = b.table(reports)
    assert "LATE" in text and "MISSING" in text and "k3s.enabled is false" in text


def test_drill_record() -> None:
    rec = b.drill_record("redis-restore", {"runs": 5, "failed_runs": [3], "passed": False, "median_seconds": 2.5},
                         now=0.0)
    assert rec == {"drill": "redis-restore", "store": "redis", "passed": False, "runs": 5, "passed_runs": 4,
                   "median_seconds": 2.5, "at": 0.0, "date": "1970-01-01T00:00:00Z"}
    r = b.report("redis", (1.0, "x.rdb", 1), 2.0, 10, "14 days", rec)
    assert "FAILED 1970-01-01T00:00:00Z" in b.table([r])
