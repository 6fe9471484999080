"""What the monitoring VM offers the platform: Prometheus, Alertmanager, the journal sink (and
Grafana where enabled) on the monitoring VM, their scrape jobs, its own alerts. Pure."""

from __future__ import annotations

from components.contract import BucketUse, Contract, ScrapeJob, scrape_job
from components.firewall import ServicePort
from components.monitoring import alerts
from components.monitoring import names as n
from components.monitoring.render import loki
from components.settings import Settings


def ports(settings: Settings) -> list[ServicePort]:
    out = [
        ServicePort("prometheus", n.PROMETHEUS_PORT, ("monitoring",), ("admin", "monitoring")),
        ServicePort("alertmanager", n.ALERTMANAGER_PORT, ("monitoring",), ("admin", "monitoring")),
        # Every VM ships its journal here (systemd-journal-upload over HTTPS; the firewall decides who may).
        ServicePort("journal-remote", n.JOURNAL_REMOTE_PORT, ("monitoring",), ("all",)),
    ]
    if settings.monitoring.grafana_enabled:
        out.append(ServicePort("grafana", n.GRAFANA_PORT, ("monitoring",), ("admin",)))
    if settings.monitoring.loki_enabled:
        # Grafana reaches Loki on the same VM; the admins query it (logcli) from their sources.
        out.append(ServicePort("loki", n.LOKI_PORT, ("monitoring",), ("admin", "monitoring")))
        out.append(ServicePort("alloy", n.ALLOY_PORT, ("monitoring",), ("admin", "monitoring")))
    return out


def contract(settings: Settings) -> Contract:
    mon = settings.hosts["monitoring"]
    m = settings.monitoring
    jobs: list[ScrapeJob] = [scrape_job("prometheus", mon, n.PROMETHEUS_PORT),
                             scrape_job("alertmanager", mon, n.ALERTMANAGER_PORT)]
    if m.loki_enabled:
        jobs += [scrape_job("loki", mon, n.LOKI_PORT), scrape_job("alloy", mon, n.ALLOY_PORT)]
    buckets: tuple[BucketUse, ...] = ()
    if m.loki_enabled and m.loki_storage == "s3":
        buckets = (BucketUse("backups", loki.s3_prefix(settings), "Loki's chunks and index (retention "
                             "monitoring.loki.retentionDays, by Loki's compactor)"),)
    return Contract(
        name="monitoring",
        ports=tuple(ports(settings)),
        scrape_jobs=tuple(jobs),
        buckets=buckets,
        # An upgraded exporter may rename the metrics the rules use: exporters are upgraded by hand.
        held_packages=("prometheus", "grafana", "loki", "alloy"),
        checks="components.monitoring.checks",
        alerts=alerts.alerts(settings),
    )
