"""What the PostgreSQL cluster offers the platform: its ports, the `etcd` host group, scrape jobs,
packages held from unattended upgrades, its place in the backups bucket, and its verify lines.
Pure."""

from __future__ import annotations

from components.contract import INTERNAL_CA, BucketUse, Contract, scrape_job
from components.firewall import ServicePort
from components.postgres import names as n
from components.postgres.names import etcd_members
from components.settings import Settings


def ports(settings: Settings) -> list[ServicePort]:
    return [
        # PostgreSQL itself: replication, pg_rewind, Patroni, the databases step; nobody else.
        ServicePort("postgresql", n.PG_PORT, ("postgres",), ("etcd",)),
        # Patroni REST API: members (failsafe, patronictl) and the router's health checks.
        ServicePort("patroni-api", n.PATRONI_PORT, ("postgres",), ("etcd", "router")),
        ServicePort("etcd", (n.ETCD_CLIENT_PORT, n.ETCD_PEER_PORT), ("etcd",), ("etcd",)),
        # Clients reach PgBouncer only through the router (and K3s pods, where the router runs).
        ServicePort("pgbouncer", n.PGBOUNCER_PORT, ("postgres",), ("router", "k3s")),
        ServicePort("postgres-exporter", n.EXPORTER_PORT, ("postgres",), ("monitoring",)),
        ServicePort("pgbouncer-exporter", n.PGBOUNCER_EXPORTER_PORT, ("postgres",), ("monitoring",)),
    ]


def contract(settings: Settings) -> Contract:
    dbs = settings.hosts["postgres"]
    return Contract(
        name="postgres",
        ports=tuple(ports(settings)),
        groups={"etcd": etcd_members(settings)},
        scrape_jobs=(
            scrape_job("postgres_exporter", dbs, n.EXPORTER_PORT),
            scrape_job("pgbouncer_exporter", dbs, n.PGBOUNCER_EXPORTER_PORT),
            # Patroni's /metrics, over https with the platform CA.
            scrape_job("patroni", dbs, n.PATRONI_PORT, scheme="https", tls_ca=INTERNAL_CA),
            # etcd's client port serves /metrics and requires a client certificate.
            scrape_job("etcd", etcd_members(settings), n.ETCD_CLIENT_PORT, scheme="https", tls_ca=INTERNAL_CA,
                       client_cert=True),
        ),
        held_packages=("postgresql-", "patroni", "etcd", "pgbouncer", "pgbackrest"),
        buckets=(BucketUse("backups", f"pgbackrest/{settings.postgres.cluster_name}/",
                           "pgBackRest repository (backups and WAL archive; pgBackRest owns its retention)"),),
        checks="components.postgres.checks",
    )
