"""What the Redis/Sentinel cluster offers the platform: ports, scrape jobs, held packages, its
place in the backups bucket, the router's Redis listener and its verify lines. Pure."""

from __future__ import annotations

from components.contract import BucketUse, Contract, RouterListener, TlsProbe, scrape_job
from components.firewall import ServicePort
from components.plan import Password
from components.redis import alerts, render
from components.redis.plan import password_name
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


def contract(settings: Settings) -> Contract:
    return Contract(
        name="redis",
        ports=tuple(ports(settings)),
        scrape_jobs=(
            scrape_job("redis", render.data_hosts(settings), render.EXPORTER_PORT),
            scrape_job("sentinel", render.sentinel_hosts(settings), render.SENTINEL_EXPORTER_PORT),
        ),
        held_packages=("redis",),
        buckets=(BucketUse("backups", render.backup_prefix(settings), "Redis RDB copies (the backup timer "
                           "deletes copies older than redis.backup.retentionDays, never the newest)",
                           expire_days=settings.redis.backup_retention_days + settings.s3.lifecycle_margin_days),),
        router_listeners=(RouterListener(
            render.router_section(settings),
            {render.SECRET_HEALTHCHECK: Password(password_name("healthcheck"))}),),
        checks="components.redis.checks",
        alerts=alerts.alerts(settings),
        tls_probes=tuple(
            [TlsProbe("redis", h, render.REDIS_PORT) for h in render.data_hosts(settings)]
            + [TlsProbe("sentinel", h, render.SENTINEL_PORT) for h in render.sentinel_hosts(settings)]
        ) if settings.redis.tls else (),
    )
