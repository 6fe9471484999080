"""The PostgreSQL backup script's metrics: the newest backup of each type from `pgbackrest info`
(the JSON shape of pgBackRest 2.x), as the textfile lines the PostgresBackupTooOld alert reads."""

from __future__ import annotations

import json
import subprocess
import sys

from components.postgres.render import render_backup_script
from tests.unit.helpers import settings

INFO = [{"name": "platform-pg", "backup": [
    {"type": "full", "label": "20261201-010000F", "timestamp": {"start": 90, "stop": 100}},
    {"type": "incr", "label": "20261201-010000F_20261201-020000I", "timestamp": {"start": 190, "stop": 200}},
    {"type": "full", "label": "20261202-010000F", "timestamp": {"start": 140, "stop": 150}},
]}]


def embedded_program(script: str) -> str:
    start = script.index("python3 -c '") + len("python3 -c '")
    return script[start:script.index("' ", start)]


def test_newest_backup_per_type_as_metrics() -> None:
    s = settings("lab")
    script = render_backup_script(s)
    cp = subprocess.run([sys.executable, "-c", embedded_program(script), s.postgres.cluster_name],
                        input=json.dumps(INFO), capture_output=True, text=True, check=True)
    lines = [ln for ln in cp.stdout.splitlines() if not ln.startswith("#")]
    assert lines == [
        'platform_pg_backup_last_success_timestamp_seconds{cluster="platform-pg",type="full"} 150',
        'platform_pg_backup_last_success_timestamp_seconds{cluster="platform-pg",type="incr"} 200',
    ]
    assert "metrics" in script.split("\n")[4]  # the usage line names the metrics-only mode


def test_no_backup_yet_gives_no_sample() -> None:
    s = settings("lab")
    cp = subprocess.run([sys.executable, "-c", embedded_program(render_backup_script(s)), "platform-pg"],
                        input=json.dumps([{"name": "platform-pg", "backup": []}]), capture_output=True, text=True,
                        check=True)
    assert [ln for ln in cp.stdout.splitlines() if not ln.startswith("#")] == []
