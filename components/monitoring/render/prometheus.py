"""Prometheus on the monitoring VM: prometheus.yml, one file_sd file per scrape job (from every
component's contract), its defaults file, and one rule file per component."""

from __future__ import annotations

import json
from collections.abc import Sequence

import yaml

from components.contract import INTERNAL_CA, ROLE_LABEL, Alert, Contract, ScrapeJob, TlsProbe
from components.monitoring import names as n
from components.settings import Settings

HEADER = "# Rendered by the platform program (components/monitoring/render/prometheus.py); do not edit.\n"
TLS_JOB = "tls"
BLACKBOX = f"127.0.0.1:{n.BLACKBOX_PORT}"


def _dump(data: object) -> str:
    return HEADER + yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=120)


def file_sd(settings: Settings, job: ScrapeJob) -> str:
    """The targets of one job with their labels (`host`, `vm_role`, and `stack` on every target)."""
    groups = [{"targets": [t.address], "labels": {**dict(t.labels), "stack": settings.stack}} for t in job.targets]
    return json.dumps(groups, indent=2, sort_keys=True) + "\n"


def tls_file_sd(settings: Settings, probes: Sequence[TlsProbe]) -> str:
    """The blackbox exporter's TLS targets (those without STARTTLS): `module` chooses the client cert."""
    groups = [{"targets": [p.address()],
               "labels": {"host": p.host.name, ROLE_LABEL: p.host.role, "service": p.service, "stack": settings.stack,
                          "__param_module": "tls_client" if p.client_cert else "tls"}}
              for p in probes if p.starttls is None]
    return json.dumps(groups, indent=2, sort_keys=True) + "\n"


def _tls_config(job: ScrapeJob) -> dict[str, str]:
    cfg: dict[str, str] = {}
    if job.tls_ca == INTERNAL_CA:
        cfg["ca_file"] = f"{n.PROMETHEUS_TLS}/ca.crt"
    if job.tls_server_name:
        cfg["server_name"] = job.tls_server_name
    if job.client_cert:
        cfg |= {"cert_file": f"{n.PROMETHEUS_TLS}/client.crt", "key_file": f"{n.PROMETHEUS_TLS}/client.key"}
    return cfg


def scrape_config(job: ScrapeJob) -> dict[str, object]:
    cfg: dict[str, object] = {
        "job_name": job.job,
        "metrics_path": job.path,
        "scheme": job.scheme,
        "file_sd_configs": [{"files": [f"{n.FILE_SD_DIR}/{job.job}.json"], "refresh_interval": "1m"}],
    }
    if job.scheme == "https":
        cfg["tls_config"] = _tls_config(job)
    return cfg


def render_prometheus(settings: Settings, jobs: Sequence[ScrapeJob], rule_files: Sequence[str], mon_ip: str) -> str:
    m = settings.monitoring
    interval = m.scrape_interval_seconds
    config = {
        "global": {
            "scrape_interval": f"{interval}s",
            # A dead VM must fail its scrape well before the next one (HostDown's 20 s `for`).
            "scrape_timeout": f"{min(10, max(2, interval // 3))}s",
            "evaluation_interval": f"{m.evaluation_interval_seconds}s",
            "external_labels": {"stack": settings.stack},
        },
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"{mon_ip}:{n.ALERTMANAGER_PORT}"]}]}]},
        "rule_files": [f"{n.RULES_DIR}/{f}" for f in rule_files],
        "scrape_configs": [scrape_config(j) for j in jobs] + [{
            # Certificate expiry of every TLS endpoint, through the blackbox exporter on this VM.
            "job_name": TLS_JOB,
            "metrics_path": "/probe",
            "file_sd_configs": [{"files": [f"{n.FILE_SD_DIR}/{TLS_JOB}.json"], "refresh_interval": "1m"}],
            "relabel_configs": [
                {"source_labels": ["__address__"], "target_label": "__param_target"},
                {"source_labels": ["__param_target"], "target_label": "instance"},
                {"target_label": "__address__", "replacement": BLACKBOX},
            ],
        }],
    }
    return _dump(config)


def render_defaults(settings: Settings, mon_ip: str) -> str:
    """/etc/default/prometheus. `__RETENTION_SIZE__` is replaced on the host by the step (a share
    of the filesystem that holds the TSDB: monitoring.retentionDiskPercent)."""
    args = [
        f"--config.file={n.PROMETHEUS_DIR}/prometheus.yml",
        "--storage.tsdb.path=/var/lib/prometheus/metrics2",
        f"--storage.tsdb.retention.time={settings.monitoring.retention_days}d",
        "--storage.tsdb.retention.size=__RETENTION_SIZE__",
        f"--web.listen-address={mon_ip}:{n.PROMETHEUS_PORT}",
        "--web.enable-lifecycle",
    ]
    return ("# Rendered by the platform program (components/monitoring/render/prometheus.py).\n"
            f'ARGS="{" ".join(args)}"\n')


def alert_rule(component: str, a: Alert) -> dict[str, object]:
    labels = {"severity": a.severity, "component": component}
    return {
        "alert": a.name,
        "expr": a.expr,
        "for": a.for_,
        "labels": labels,
        "annotations": {"summary": a.summary, "description": a.description,
                        "runbook_url": f"README.md#{a.runbook_anchor()}"},
    }


def render_rules(contract: Contract) -> str:
    rules: list[dict[str, object]] = [{"record": k, "expr": v} for k, v in contract.recording_rules.items()]
    rules += [alert_rule(contract.name, a) for a in contract.alerts]
    return _dump({"groups": [{"name": contract.name, "rules": rules}]})


def rule_files(contracts: Sequence[Contract]) -> dict[str, str]:
    """file name -> rules, one file per component that has any."""
    return {f"{c.name}.yml": render_rules(c) for c in contracts if c.alerts or c.recording_rules}
