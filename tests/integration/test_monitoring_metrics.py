"""The metric contract on the lab: every metric name an alert or recording rule reads exists in the
lab's real Prometheus (`/api/v1/label/__name__/values`), scraped from the real exporters, and every
Grafana dashboard query returns at least one series there. An exporter upgrade that renames a
metric fails here instead of silencing an alert or blanking a panel. Then `monitoring-quiet`: the
converged lab pages nobody (2 minutes here to keep CI short; the README's figure is 10)."""

from __future__ import annotations

import json
import shlex
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from components import catalog
from components.monitoring import dashboards
from components.monitoring import names as n
from components.monitoring.promql import rule_metrics
from components.settings import parse_settings
from scripts.lablib.api import ssh_run
from scripts.program import PLACEHOLDER_SECRETS, stack_config

pytestmark = pytest.mark.integration


ROOT = Path(__file__).resolve().parents[2]
QUIET_MINUTES = 2
SETTINGS = parse_settings({**stack_config("lab"), **PLACEHOLDER_SECRETS}, "lab")
# Dashboard queries that may legitimately return nothing on the lab, with the reason. (None today.)
EMPTY_ON_THE_LAB: dict[str, str] = {}


def prometheus(path: str) -> Any:
    mon = n.monitoring_host(SETTINGS)
    url = f"http://{mon.private_ip}:{n.PROMETHEUS_PORT}{path}"
    p = ssh_run(mon.name, f"curl -sf --max-time 10 {shlex.quote(url)}", timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout)["data"]


def test_every_metric_a_rule_reads_exists_in_the_lab_prometheus(lab_up: dict[str, Any]) -> None:
    s = SETTINGS
    have = set(prometheus("/api/v1/label/__name__/values"))
    used = rule_metrics(catalog.contracts(s))
    missing = {m: sorted(rules) for m, rules in used.items() if m not in have}
    print(f"{len(used)} metrics read by the rules, {len(have)} in the lab Prometheus")
    assert missing == {}, f"metrics no exporter on the lab serves (rule names in brackets): {missing}"


def test_every_dashboard_query_returns_a_series_on_the_lab(lab_up: dict[str, Any]) -> None:
    empty = []
    for uid, title, query in dashboards.queries():
        if f"{uid}/{title}" in EMPTY_ON_THE_LAB:
            continue
        result = prometheus("/api/v1/query?query=" + urllib.parse.quote(query))["result"]
        if not result:
            empty.append(f"{uid}/{title}: {query}")
    assert empty == [], "dashboard panels with no data on the lab:\n" + "\n".join(empty)


def test_a_converged_lab_pages_nobody(lab_up: dict[str, Any]) -> None:
    argv = [str(ROOT / "scripts/drill"), "monitoring-quiet", "--stack", "lab", "--runs", "1",
            "--minutes", str(QUIET_MINUTES)]
    cp = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    lines = [json.loads(ln) for ln in cp.stdout.splitlines() if ln.startswith("{")]
    out = cp.stdout[-3000:] + cp.stderr[-3000:]
    assert len(lines) == 2, out
    run, summary = lines
    print(json.dumps(run))
    assert "error" not in run, out
    assert run["alerts_seen"] == [] and run["pages"] == [], f"a converged lab raised alerts: {run}"
    # The Watchdog fires throughout and reaches the dead man's switch (every minute).
    assert run["watchdog_active"] and run["deadmans_switch_notifications"] >= 1, run
    assert summary["passed"] and cp.returncode == 0, out
