"""Ports of the Redis/Sentinel cluster, for the firewall matrix (components/firewall.py)."""

from __future__ import annotations

from components.firewall import ServicePort
from components.redis import render
from components.settings import Settings


def ports(settings: Settings) -> list[ServicePort]:
    out = [
        # Redis: the apps (K3s), the router's listener, and replication/Sentinel among Redis VMs.
        ServicePort("redis", render.REDIS_PORT, ("redis",), ("k3s", "router", "redis")),
        # Sentinel: the other Sentinels, the start-up guards, and Sentinel-aware clients.
        ServicePort("redis-sentinel", render.SENTINEL_PORT, ("redis",), ("redis", "k3s", "router")),
        ServicePort("redis-exporter", render.EXPORTER_PORT, ("redis",), ("monitoring",)),
        ServicePort("redis-sentinel-exporter", render.SENTINEL_EXPORTER_PORT, ("redis",), ("monitoring",)),
    ]
    if settings.router.placement == "vms":
        # The router's Redis listener, for clients without Sentinel support (Nextcloud).
        out.append(ServicePort("redis-router", render.ROUTER_PORT, ("router",), ("k3s", "admin")))
    return out
