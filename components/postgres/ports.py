"""Ports of the PostgreSQL cluster and its router, for the firewall matrix (components/firewall.py)."""

from __future__ import annotations

from components.firewall import ServicePort
from components.postgres import render
from components.router import render as router_render
from components.settings import Settings


def ports(settings: Settings) -> list[ServicePort]:
    out = [
        # PostgreSQL itself: replication, pg_rewind, Patroni, the databases step; nobody else.
        ServicePort("postgresql", render.PG_PORT, ("postgres",), ("etcd",)),
        # Patroni REST API: members (failsafe, patronictl) and the router's health checks.
        ServicePort("patroni-api", render.PATRONI_PORT, ("postgres",), ("etcd", "router")),
        ServicePort("etcd", (render.ETCD_CLIENT_PORT, render.ETCD_PEER_PORT), ("etcd",), ("etcd",)),
        # Clients reach PgBouncer only through the router (and K3s pods, where the router runs).
        ServicePort("pgbouncer", render.PGBOUNCER_PORT, ("postgres",), ("router", "k3s")),
        ServicePort("postgres-exporter", render.EXPORTER_PORT, ("postgres",), ("monitoring",)),
        ServicePort("pgbouncer-exporter", render.PGBOUNCER_EXPORTER_PORT, ("postgres",), ("monitoring",)),
    ]
    if settings.router.placement == "vms":
        out += [
            ServicePort("pg-router", router_render.PRIMARY_PORT, ("router",), ("k3s", "admin")),
            ServicePort("pg-router-replicas", router_render.REPLICA_PORT, ("router",), ("k3s", "admin")),
            ServicePort("router-stats", router_render.STATS_PORT, ("router",), ("admin", "monitoring")),
        ]
    return out
