"""The metric contract on the lab: every metric name an alert or recording rule reads exists in the
lab's real Prometheus (`/api/v1/label/__name__/values`), scraped from the real exporters. An
exporter upgrade that renames a metric fails here instead of silencing an alert."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components import catalog
from components.monitoring import names as n
from components.monitoring.promql import rule_metrics
from components.settings import parse_settings
from scripts.lablib.api import ssh_run
from scripts.program import PLACEHOLDER_SECRETS, stack_config

pytestmark = pytest.mark.integration


def test_every_metric_a_rule_reads_exists_in_the_lab_prometheus(lab_up: dict[str, Any]) -> None:
    s = parse_settings({**stack_config("lab"), **PLACEHOLDER_SECRETS}, "lab")
    mon = n.monitoring_host(s)
    p = ssh_run(mon.name, f"curl -sf --max-time 10 http://{mon.private_ip}:{n.PROMETHEUS_PORT}"
                          "/api/v1/label/__name__/values", timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    have = set(json.loads(p.stdout)["data"])
    used = rule_metrics(catalog.contracts(s))
    missing = {m: sorted(rules) for m, rules in used.items() if m not in have}
    print(f"{len(used)} metrics read by the rules, {len(have)} in the lab Prometheus")
    assert missing == {}, f"metrics no exporter on the lab serves (rule names in brackets): {missing}"
