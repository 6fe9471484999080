"""What HostBaseline offers the platform: SSH and node_exporter on every VM, and (until the K3s
component owns them) the K3s nodes' own ports. Pure."""

from __future__ import annotations

from components.baseline import alerts
from components.baseline.render import NODE_EXPORTER_PORT
from components.contract import Contract, scrape_job
from components.firewall import ServicePort
from components.settings import Settings


def ports(settings: Settings) -> list[ServicePort]:
    """Ports every platform VM has: SSH from the admins, node_exporter from monitoring."""
    out = [
        ServicePort("ssh", settings.ssh.port, ("all",), ("admin",)),
        ServicePort("node-exporter", NODE_EXPORTER_PORT, ("all",), ("monitoring",)),
    ]
    if settings.k3s.enabled:
        # K3s' own control-plane and overlay traffic (docs.k3s.io, "Inbound rules for K3s nodes").
        out += [
            ServicePort("k3s-api", 6443, ("k3sServers",), ("k3s", "admin", "monitoring")),
            ServicePort("k3s-etcd", (2379, 2380), ("k3sServers",), ("k3sServers",)),
            ServicePort("kubelet", 10250, ("k3s",), ("k3s", "monitoring")),
            ServicePort("flannel-vxlan", 8472, ("k3s",), ("k3s",), proto="udp"),
            ServicePort("http", 80, ("k3s",), ("any",)),
            ServicePort("https", 443, ("k3s",), ("any",)),
        ]
    return out


def contract(settings: Settings) -> Contract:
    return Contract(
        name="baseline",
        ports=tuple(ports(settings)),
        scrape_jobs=(scrape_job("node", settings.hosts.all(), NODE_EXPORTER_PORT),),
        checks="components.baseline.checks",
        alerts=alerts.alerts(settings),
    )
