"""Composition of the whole platform from settings; `__main__.py` only exports what this returns.

Kept apart from `__main__.py` so the tests, `scripts/render` and the lab run exactly the same
composition under mocks.
"""

from __future__ import annotations

from typing import Any

from components.baseline import HostBaseline
from components.firewall import ServicePort, baseline_ports, firewall_matrix
from components.pki import InternalCA
from components.postgres import PostgresHACluster
from components.postgres.ports import ports as postgres_ports
from components.redis import RedisSentinelCluster
from components.redis.ports import ports as redis_ports
from components.router import Router
from components.settings import Settings
from components.storage import Storage


def service_ports(settings: Settings) -> list[ServicePort]:
    """Every port the platform listens on, from every component, for the firewall matrix."""
    return baseline_ports(settings) + postgres_ports(settings) + redis_ports(settings)


def build_platform(settings: Settings) -> dict[str, Any]:
    matrix = firewall_matrix(settings, service_ports(settings))
    baselines = {
        h.name: HostBaseline(settings, h, matrix[h.name]) for h in settings.hosts.all()
    }
    ready = {name: b.ready for name, b in baselines.items()}
    ca = InternalCA("platform-ca", f"platform {settings.stack} internal CA")
    storage = Storage(settings)
    postgres = PostgresHACluster(settings, ca, ready, storage.backups.bucket)
    redis = RedisSentinelCluster(settings, ready, ca, storage.backups)
    router = Router(settings, ca.cert_pem, ready, [redis.router_section], redis.router_secrets)
    return {
        "postgresRouter": router.endpoint,
        "postgresRouterReplicas": router.replica_endpoint,
        "postgresPgbouncers": postgres.pgbouncers,
        "postgresApps": postgres.apps,
        "postgresCaCertificate": postgres.ca_certificate,
        "postgresScrapeTargets": postgres.scrape_targets,
        "redisSentinels": redis.sentinels,
        "redisMasterName": redis.master_name,
        "redisRouter": redis.router_endpoint,
        "redisApps": redis.apps,
        "redisScrapeTargets": redis.scrape_targets,
        "s3Endpoint": settings.s3.endpoint,
        "buckets": {k: b.bucket for k, b in storage.buckets.items()},
        "preset": settings.preset,
        "hosts": {
            h.name: {"role": h.role, "privateIp": h.private_ip, "publicIp": h.public_ip}
            for h in settings.hosts.all()
        },
        "sshUser": settings.ssh.user,
        "baselineReady": sorted(baselines),
    }
