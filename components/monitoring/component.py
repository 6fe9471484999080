"""MonitoringHost: registers the monitoring plan (components/monitoring/plan.py) and exposes where
Prometheus and Alertmanager listen."""

from __future__ import annotations

from typing import Any

import pulumi

from components.component import PlannedComponent
from components.deploy import Deployment
from components.monitoring import names as n
from components.monitoring.plan import GRAFANA_PASSWORD
from components.plan import Plan
from components.settings import Settings


class MonitoringHost(PlannedComponent):
    prometheus_url: str
    """http://<monitoring VM>:9090 (private address; reachable from `ssh.adminSources`)."""
    alertmanager_url: str
    """http://<monitoring VM>:9093."""
    grafana: dict[str, Any]
    """With monitoring.grafana.enabled: its URL and the generated admin password (a secret)."""

    def __init__(self, settings: Settings, plan: Plan, deployment: Deployment,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        mon = n.monitoring_host(settings)
        super().__init__("platform:monitoring:MonitoringHost", mon.name, settings, plan, deployment, opts)
        self.prometheus_url = f"http://{mon.private_ip}:{n.PROMETHEUS_PORT}"
        self.alertmanager_url = f"http://{mon.private_ip}:{n.ALERTMANAGER_PORT}"
        self.grafana = {}
        if settings.monitoring.grafana_enabled:
            self.grafana = {"grafanaUrl": f"http://{mon.private_ip}:{n.GRAFANA_PORT}",
                            "grafanaAdminPassword": deployment.passwords[GRAFANA_PASSWORD]}  # secret
        self.register_outputs(self.stack_outputs())

    def stack_outputs(self) -> dict[str, Any]:
        return {"monitoringPrometheusUrl": self.prometheus_url, "monitoringAlertmanagerUrl": self.alertmanager_url,
                **self.grafana}


def build(settings: Settings, plan: Plan, deployment: Deployment) -> dict[str, Any]:
    return MonitoringHost(settings, plan, deployment).stack_outputs()
