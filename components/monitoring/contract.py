"""What the monitoring VM offers the platform: Prometheus, Alertmanager, the journal sink (and
Grafana where enabled) on the monitoring VM, their scrape jobs, its own alerts. Pure."""

from __future__ import annotations

from components.contract import Contract, scrape_job
from components.firewall import ServicePort
from components.monitoring import alerts
from components.monitoring import names as n
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
    return out


def contract(settings: Settings) -> Contract:
    mon = settings.hosts["monitoring"]
    return Contract(
        name="monitoring",
        ports=tuple(ports(settings)),
        scrape_jobs=(
            scrape_job("prometheus", mon, n.PROMETHEUS_PORT),
            scrape_job("alertmanager", mon, n.ALERTMANAGER_PORT),
        ),
        # An upgraded exporter may rename the metrics the rules use: exporters are upgraded by hand.
        held_packages=("prometheus", "grafana", "loki", "alloy"),
        checks="components.monitoring.checks",
        alerts=alerts.alerts(settings),
    )
