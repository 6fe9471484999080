"""Grafana (checked statically: no Grafana package on this machine): grafana.ini on the private
address with the admin password from a file, datasources with fixed uids, the generated dashboards
(valid JSON models whose every query `promtool` parses), the step and its secret output."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from components.monitoring import dashboards
from components.monitoring import names as n
from components.monitoring.render import grafana
from scripts.program import is_secret, run_program
from tests.unit.helpers import config, settings


def test_ini_binds_the_private_address_and_reads_the_password_from_a_file() -> None:
    ini = grafana.render_ini("10.0.3.41")
    assert "http_addr = 10.0.3.41" in ini and f"http_port = {n.GRAFANA_PORT}" in ini
    assert f"admin_password = $__file{{{grafana.ADMIN_PASSWORD_FILE}}}" in ini
    assert "allow_sign_up = false" in ini and "reporting_enabled = false" in ini


@pytest.mark.parametrize("loki", [True, False])
def test_datasources_have_fixed_uids(loki: bool) -> None:
    s = settings("prod-ha", monitoring={"loki": {"enabled": loki}})
    data = yaml.safe_load(grafana.render_datasources(s, "10.0.3.41"))
    uids = {d["uid"]: d for d in data["datasources"]}
    want = {n.DATASOURCE_PROMETHEUS, n.DATASOURCE_ALERTMANAGER} | ({n.DATASOURCE_LOKI} if loki else set())
    assert set(uids) == want
    prometheus = uids[n.DATASOURCE_PROMETHEUS]
    assert prometheus["url"] == "http://10.0.3.41:9090" and prometheus["isDefault"]
    assert uids[n.DATASOURCE_ALERTMANAGER]["jsonData"]["implementation"] == "prometheus"


def test_dashboards_are_valid_models_on_the_provisioned_datasource() -> None:
    assert len({d.uid for d in dashboards.DASHBOARDS}) == len(dashboards.DASHBOARDS) == 7
    for d in dashboards.DASHBOARDS:
        model = json.loads(dashboards.render_dashboard(d))
        assert model["uid"] == d.uid and model["panels"]
        for p in model["panels"]:
            assert p["datasource"]["uid"] == n.DATASOURCE_PROMETHEUS
            assert p["targets"] and all(t["expr"] for t in p["targets"])
        ids = [p["id"] for p in model["panels"]]
        assert len(ids) == len(set(ids))


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (package prometheus) missing")
def test_every_panel_query_parses(tmp_path: Path) -> None:
    # promtool parses PromQL in rule files: each query as a recording rule.
    rules = [{"record": f"dashboard:q{i}", "expr": q} for i, (_, _, q) in enumerate(dashboards.queries())]
    (tmp_path / "q.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    cp = subprocess.run(["promtool", "check", "rules", str(tmp_path / "q.yml")], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    broken = rules + [{"record": "dashboard:bad", "expr": "sum(rate(x[5m])"}]
    (tmp_path / "bad.yml").write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": broken}]}))
    assert subprocess.run(["promtool", "check", "rules", str(tmp_path / "bad.yml")], capture_output=True).returncode


def test_the_step_and_its_secret_output() -> None:
    run = run_program("prod-ha", config("prod-ha"))
    step = next(r for r in run.records if r.name == "mon-1-grafana")
    deps = {d.rsplit("::", 1)[-1] for d in step.dependencies}
    assert {"mon-1-prometheus", "mon-1-alertmanager"} <= deps
    assert run.outputs["grafanaUrl"] == "http://192.0.2.41:3000"
    assert is_secret(run.outputs["grafanaAdminPassword"])
    lab = run_program("lab", config("lab"))  # Grafana off in the lab: no step, no output
    assert not any("grafana" in r.name for r in lab.records) and "grafanaUrl" not in lab.outputs
