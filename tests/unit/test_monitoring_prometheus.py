"""The monitoring VM's rendered configuration, checked by the real tools: `promtool check config`
(with the rule files and file_sd targets), `amtool check-config` for every receiver combination,
`prometheus-blackbox-exporter --config.check`; and what the configuration must say."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import catalog
from components.monitoring import names as n
from components.monitoring.plan import prometheus_files
from components.monitoring.render import alertmanager, probes
from components.settings import parse_settings
from tests.unit.helpers import STACKS, config, settings


def stage(stack: str, root: Path) -> Path:
    """The Prometheus files of a stack, laid out under root as on the monitoring VM."""
    s = settings(stack)
    mon = s.hosts["monitoring"][0]
    files = prometheus_files(s, catalog.contracts(s), mon.private_ip)
    etc = root / "etc/prometheus"
    (etc / "rules").mkdir(parents=True)
    (etc / "file_sd").mkdir()
    (etc / "tls").mkdir()
    for f in ("ca.crt", "client.crt", "client.key"):
        (etc / "tls" / f).write_text("placeholder\n")

    def fix(text: str) -> str:
        return text.replace("/etc/prometheus", str(etc))

    for name, text in files.items():
        assert isinstance(text, str)
        if name.startswith("rules-"):
            (etc / "rules" / name.removeprefix("rules-")).write_text(fix(text))
        elif name.startswith("sd-"):
            (etc / "file_sd" / name.removeprefix("sd-")).write_text(text)
        elif name in ("prometheus.yml", "blackbox.yml"):
            (etc / name).write_text(fix(text))
    return etc


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing")
@pytest.mark.parametrize("stack", STACKS)
def test_promtool_accepts_the_configuration(stack: str, tmp_path: Path) -> None:
    etc = stage(stack, tmp_path)
    cp = subprocess.run(["promtool", "check", "config", str(etc / "prometheus.yml")], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "SUCCESS" in cp.stdout + cp.stderr


def test_every_contract_job_is_scraped_with_its_scheme_and_labels(tmp_path: Path) -> None:
    s = settings("lab")
    etc = stage("lab", tmp_path)
    cfg = yaml.safe_load((etc / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert set(jobs) >= {"node", "postgres_exporter", "pgbouncer_exporter", "patroni", "etcd", "redis", "sentinel",
                         "router", "prometheus", "alertmanager", "tls"}
    assert jobs["patroni"]["scheme"] == "https" and jobs["patroni"]["tls_config"]["ca_file"].endswith("/tls/ca.crt")
    assert jobs["etcd"]["scheme"] == "http"  # the plain metrics listener
    node = json.loads((etc / "file_sd/node.json").read_text())
    assert len(node) == len(s.hosts.all())
    assert all(set(g["labels"]) == {"host", "vm_role", "stack"} and g["labels"]["stack"] == "lab" for g in node)
    etcd = json.loads((etc / "file_sd/etcd.json").read_text())
    assert sorted(g["targets"][0] for g in etcd) == ["198.18.0.11:2381", "198.18.0.12:2381", "198.18.0.31:2381"]
    assert cfg["global"]["external_labels"] == {"stack": "lab"}
    assert cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["198.18.0.31:9093"]
    tls = json.loads((etc / "file_sd/tls.json").read_text())
    services = {(g["labels"]["service"], g["labels"]["__param_module"]) for g in tls}
    assert services == {("patroni", "tls"), ("etcd", "tls_client")}
    starttls = probes.render_starttls_targets([p for c in catalog.contracts(s) for p in c.tls_probes])
    assert "postgresql db-1 198.18.0.11:5432" in starttls and "pgbouncer db-2 198.18.0.12:6432" in starttls


def test_retention_by_time_and_size_placeholder() -> None:
    s = settings("prod-ha", monitoring={"retentionDays": 30, "retentionDiskPercent": 60})
    files = prometheus_files(s, catalog.contracts(s), "192.0.2.41")
    defaults = files["prometheus.default"]
    assert isinstance(defaults, str)
    assert "--storage.tsdb.retention.time=30d" in defaults and "--storage.tsdb.retention.size=__RETENTION_SIZE__" \
        in defaults and "--web.listen-address=192.0.2.41:9090" in defaults


@pytest.mark.skipif(shutil.which("prometheus-blackbox-exporter") is None, reason="blackbox exporter missing")
def test_blackbox_accepts_its_modules(tmp_path: Path) -> None:
    etc = tmp_path / "etc/prometheus"
    (etc / "tls").mkdir(parents=True)
    (etc / "blackbox.yml").write_text(probes.render_blackbox().replace("/etc/prometheus", str(etc)))
    cp = subprocess.run(["prometheus-blackbox-exporter", "--config.check", f"--config.file={etc / 'blackbox.yml'}"],
                        capture_output=True, text=True)
    assert cp.returncode == 0, cp.stdout + cp.stderr


RECEIVERS: dict[str, dict[str, Any]] = {
    "none": {},
    "webhook": {"monitoring": {"webhookUrl": "http://198.18.0.1:9099/alerts"}},
    "email": {"monitoring": {"alertEmail": "oncall@example.com",
                             "smtp": {"smarthost": "smtp.example.com:587", "username": "am"}},
              "smtpPassword": "s3cret-smtp"},
    "all": {"monitoring": {"alertEmail": "oncall@example.com", "smtp": {"smarthost": "smtp.example.com:25"},
                           "webhookUrl": "https://hooks.example.com/x", "slackChannel": "#ops"},
            "slackWebhookUrl": "https://hooks.slack.com/services/T/B/X",
            "deadMansSwitchUrl": "https://hc-ping.com/uuid"},
}


def am_settings(kind: str) -> Any:
    return parse_settings(config("prod-ha", **RECEIVERS[kind]), "prod-ha")


def substituted(kind: str) -> str:
    """alertmanager.yml as the host gets it: placeholders replaced by the secret values."""
    s = am_settings(kind)
    text = alertmanager.render_alertmanager(s, [a for c in catalog.contracts(s) for a in c.alerts])
    cfg = RECEIVERS[kind]
    values = {n.SECRET_SMTP_PASSWORD: cfg.get("smtpPassword"), n.SECRET_SLACK_URL: cfg.get("slackWebhookUrl"),
              n.SECRET_DEADMANS_URL: cfg.get("deadMansSwitchUrl")}
    for name, value in values.items():
        if value:
            text = text.replace("{{secret:" + name + "}}", value)
    assert "{{secret:" not in text
    return text


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool missing")
@pytest.mark.parametrize("kind", list(RECEIVERS))
def test_amtool_accepts_every_receiver_combination(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(substituted(kind))
    cp = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stdout + cp.stderr


def test_secrets_stay_placeholders_in_the_rendered_file() -> None:
    text = alertmanager.render_alertmanager(am_settings("all"))
    for secret in ("s3cret-smtp", "hooks.slack.com", "hc-ping.com"):
        assert secret not in text
    assert "{{secret:slack_webhook_url}}" in text and "{{secret:deadmans_switch_url}}" in text
    assert alertmanager.secret_names(am_settings("all")) == [n.SECRET_SLACK_URL, n.SECRET_DEADMANS_URL]
    assert alertmanager.secret_names(am_settings("email")) == [n.SECRET_SMTP_PASSWORD]


def test_each_failover_is_a_group_of_its_own() -> None:
    # The failover alerts (contract Alert.per) are grouped per new primary/master: a second failover
    # while the first one's alert still fires is sent after group_wait, not at the group's next flush.
    s = am_settings("webhook")
    alerts = [a for c in catalog.contracts(s) for a in c.alerts]
    per = {a.name: a.per for a in alerts if a.per}
    # A crash is a group per host too: its 45 s alert must be sent after group_wait, not wait for (and
    # resolve before) the next flush of a group holding another host's.
    assert per == {"PostgresFailover": "host", "RedisMasterChanged": "master_address", "PostgresCrashed": "host"}
    routes = yaml.safe_load(alertmanager.render_alertmanager(s, alerts))["route"]["routes"]
    matchers = [r["matchers"][0] for r in routes]
    for name, label, wait, before in (("PostgresFailover", "host", "30s", "warning"),
                                      ("RedisMasterChanged", "master_address", "30s", "warning"),
                                      ("PostgresCrashed", "host", "5s", "critical")):
        r = routes[matchers.index(f'alertname="{name}"')]
        assert r["group_by"] == ["stack", "component", "alertname", label] and r["group_wait"] == wait
        assert matchers.index(f'alertname="{name}"') < matchers.index(f'severity="{before}"')


def test_routing_grouping_inhibition() -> None:
    cfg = yaml.safe_load(alertmanager.render_alertmanager(am_settings("all")))
    route = cfg["route"]
    assert route["group_by"] == ["stack", "component", "alertname"]
    by_match = {r["matchers"][0]: r for r in route["routes"]}
    assert by_match['alertname="Watchdog"']["receiver"] == "deadmans-switch"
    assert by_match['severity="critical"']["group_wait"] == "5s"
    assert by_match['severity="info"']["receiver"] == "null"
    # Every verify run's test alert is its own group, notified at once (not at an earlier run's
    # group's next flush: verify failed "not delivered within 30 s" when runs came a minute apart).
    test_route = by_match['alertname="PlatformVerifyTest"']
    assert test_route["group_by"] == ["..."] and test_route["group_wait"] == "0s"
    receivers = {r["name"]: r for r in cfg["receivers"]}
    assert set(receivers["platform"]) == {"name", "email_configs", "webhook_configs", "slack_configs"}
    inhibit = cfg["inhibit_rules"]
    host_down = next(i for i in inhibit if i["source_matchers"] == ['alertname="HostDown"'])
    assert host_down["equal"] == ["stack", "host"]
    assert any(i["target_matchers"] == ['alertname="RouterPrimaryBackendDown"'] for i in inhibit)
    # A primary's crash in place raises PostgresFailover too (Patroni promotes it again): the failover
    # must not silence the crash (they silenced each other on the lab, and neither was sent).
    assert not any('alertname="PostgresCrashed"' in i["target_matchers"] for i in inhibit)
    # Nothing configured: everything to the null receiver, the Watchdog too.
    none = yaml.safe_load(alertmanager.render_alertmanager(am_settings("none")))
    assert none["route"]["receiver"] == "null" and [r["name"] for r in none["receivers"]] == ["null"]
    assert "--cluster.listen-address=" in alertmanager.render_defaults("192.0.2.41")
