"""What the MariaDB cluster offers the platform: its ports and host groups (`mariadb`: the data
nodes, `galera`: every Galera member, the arbitrator too), the exporter's scrape job, packages
held from unattended upgrades, the router's `mariadb_rw` listener and its verify lines. Pure."""

from __future__ import annotations

from components.contract import BucketUse, Contract, RouterListener, TlsProbe, scrape_job
from components.firewall import ServicePort
from components.mariadb import alerts, render
from components.mariadb import names as n
from components.settings import Settings


def ports(settings: Settings) -> list[ServicePort]:
    if not settings.mariadb.enabled:
        return []
    out = [
        # Clients only through the router (and K3s pods, where the router runs); monitoring probes
        # its certificate (STARTTLS).
        ServicePort("mariadb", n.MARIADB_PORT, ("mariadb",), ("router", "k3s", "monitoring")),
        # The router's health check; a joining or recovering node asks its peers' too, and the
        # arbitrator's watch whether any node is Primary.
        ServicePort("mariadb-check", n.CHECK_PORT, ("mariadb",), ("router", "galera")),
        ServicePort("mysqld-exporter", n.EXPORTER_PORT, ("mariadb",), ("monitoring",)),
    ]
    if n.galera(settings):
        out += [
            ServicePort("galera", n.GALERA_PORT, ("galera",), ("galera",)),
            # State transfers only between data nodes (the arbitrator stores nothing).
            ServicePort("galera-ist", n.IST_PORT, ("mariadb",), ("mariadb",)),
            ServicePort("galera-sst", n.SST_PORT, ("mariadb",), ("mariadb",)),
        ]
    if settings.router.placement == "vms":
        out.append(ServicePort("mariadb-router", n.ROUTER_PORT, ("router",), ("k3s", "admin")))
    return out


def contract(settings: Settings) -> Contract:
    if not settings.mariadb.enabled:
        return Contract(name="mariadb")
    data = n.data_hosts(settings)
    return Contract(
        name="mariadb",
        ports=tuple(ports(settings)),
        groups={"mariadb": data, "galera": n.members(settings) if n.galera(settings) else ()},
        scrape_jobs=(scrape_job("mysqld_exporter", data, n.EXPORTER_PORT),),
        held_packages=("mariadb-", "galera-"),
        buckets=(BucketUse("backups", n.backup_prefix(settings), "mariadb-backup chains (a full backup and its "
                           "incrementals; the backup script deletes chains older than "
                           "mariadb.backup.retentionDays, never the newest)",
                           expire_days=settings.mariadb.retention_days + settings.s3.lifecycle_margin_days),),
        router_listeners=(RouterListener(render.router_section(settings)),),
        checks="components.mariadb.checks",
        alerts=alerts.alerts(settings),
        tls_probes=tuple(TlsProbe("mariadb", h, n.MARIADB_PORT, starttls="mysql") for h in data),
    )
