"""What the router offers the platform: with `router.placement: vms` its listeners and stats on
the edge VMs; in every placement the `router` host group (the hosts its connections come from).
Pure."""

from __future__ import annotations

from components.contract import Contract, scrape_job
from components.firewall import ServicePort
from components.router import alerts, render
from components.settings import Settings


def ports(settings: Settings) -> list[ServicePort]:
    if settings.router.placement != "vms":
        return []  # in K3s the router is a Deployment; its Services are not VM ports
    return [
        ServicePort("pg-router", render.PRIMARY_PORT, ("router",), ("k3s", "admin")),
        ServicePort("pg-router-replicas", render.REPLICA_PORT, ("router",), ("k3s", "admin")),
        ServicePort("router-stats", render.STATS_PORT, ("router",), ("admin", "monitoring")),
    ]


def contract(settings: Settings) -> Contract:
    vms = settings.router.placement == "vms"
    return Contract(
        name="router",
        ports=tuple(ports(settings)),
        groups={"router": render.router_hosts(settings)},
        # HAProxy's own Prometheus exporter on the stats listener (`/metrics`).
        scrape_jobs=(scrape_job("router", render.router_hosts(settings), render.STATS_PORT),) if vms else (),
        held_packages=("haproxy",),
        alerts=alerts.alerts(settings),
    )
