"""What the PostgreSQL cluster offers the platform: its ports, the `etcd` host group, scrape jobs,
packages held from unattended upgrades, its place in the backups bucket, and its verify lines.
Pure."""

from __future__ import annotations

from components.contract import INTERNAL_CA, BucketUse, Contract, TlsProbe, scrape_job
from components.firewall import ServicePort
from components.postgres import alerts
from components.postgres import names as n
from components.postgres.names import etcd_members
from components.settings import Settings


def ports(settings: Settings) -> list[ServicePort]:
    return [
        # PostgreSQL itself: replication, pg_rewind, Patroni, the databases step; monitoring only
        # probes its certificate (STARTTLS).
        ServicePort("postgresql", n.PG_PORT, ("postgres",), ("etcd", "monitoring")),
        # Patroni REST API: members (failsafe, patronictl), the router's health checks, /metrics.
        ServicePort("patroni-api", n.PATRONI_PORT, ("postgres",), ("etcd", "router", "monitoring")),
        ServicePort("etcd", (n.ETCD_CLIENT_PORT, n.ETCD_PEER_PORT), ("etcd",), ("etcd",)),
        # The client port's certificate, probed by the monitoring VM (with its client certificate).
        ServicePort("etcd-client-probe", n.ETCD_CLIENT_PORT, ("etcd",), ("monitoring",)),
        ServicePort("etcd-metrics", n.ETCD_METRICS_PORT, ("etcd",), ("monitoring",)),
        # Clients reach PgBouncer only through the router (and K3s pods, where the router runs);
        # monitoring probes its certificate.
        ServicePort("pgbouncer", n.PGBOUNCER_PORT, ("postgres",), ("router", "k3s", "monitoring")),
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
            # etcd's plain metrics listener (the client port would want a client certificate).
            scrape_job("etcd", etcd_members(settings), n.ETCD_METRICS_PORT),
        ),
        held_packages=("postgresql-", "patroni", "etcd", "pgbouncer", "pgbackrest"),
        buckets=(BucketUse("backups", f"pgbackrest/{settings.postgres.cluster_name}/",
                           "pgBackRest repository (backups and WAL archive; pgBackRest owns its retention)"),),
        checks="components.postgres.checks",
        alerts=alerts.alerts(settings),
        recording_rules=alerts.recording_rules(settings),
        tls_probes=tuple(
            [TlsProbe("patroni", h, n.PATRONI_PORT) for h in dbs]
            + [TlsProbe("postgresql", h, n.PG_PORT, starttls="postgres") for h in dbs]
            + [TlsProbe("pgbouncer", h, n.PGBOUNCER_PORT, starttls="postgres") for h in dbs]
            + [TlsProbe("etcd", h, n.ETCD_CLIENT_PORT, client_cert=True) for h in etcd_members(settings)]),
    )
