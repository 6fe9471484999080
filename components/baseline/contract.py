"""What HostBaseline offers the platform: SSH and node_exporter on every VM (the K3s nodes' own
ports are in components/k3s/contract.py). Pure."""

from __future__ import annotations

from components.baseline import alerts
from components.baseline.render import NODE_EXPORTER_PORT
from components.contract import Contract, scrape_job
from components.firewall import ServicePort
from components.settings import Settings


def ports(settings: Settings) -> list[ServicePort]:
    """Ports every platform VM has: SSH from the admins, node_exporter from monitoring."""
    return [
        ServicePort("ssh", settings.ssh.port, ("all",), ("admin",)),
        ServicePort("node-exporter", NODE_EXPORTER_PORT, ("all",), ("monitoring",)),
    ]


def contract(settings: Settings) -> Contract:
    return Contract(
        name="baseline",
        ports=tuple(ports(settings)),
        scrape_jobs=(scrape_job("node", settings.hosts.all(), NODE_EXPORTER_PORT),),
        checks="components.baseline.checks",
        alerts=alerts.alerts(settings),
    )
