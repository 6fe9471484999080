"""Alerts of the router (HAProxy's own Prometheus exporter; router.placement: vms). Pure."""

from __future__ import annotations

from components.contract import Alert
from components.settings import Settings


def alerts(settings: Settings) -> tuple[Alert, ...]:
    if settings.router.placement != "vms":
        return ()  # in K3s the router's pods are watched by the K3s component
    out = [
        Alert("RouterPrimaryBackendDown",
              'haproxy_backend_active_servers{job="router",proxy="postgres_primary"} < 1', "30s", "critical",
              "The router on {{ $labels.host }} has no PostgreSQL primary to send writes to",
              "HAProxy on {{ $labels.host }} sees no server of postgres_primary as up (PgBouncer answering and "
              "Patroni reporting primary). Silenced while PatroniNoLeader fires."),
        Alert("RouterRedisBackendDown", 'haproxy_backend_active_servers{job="router",proxy="redis"} < 1', "30s",
              "critical", "The router on {{ $labels.host }} has no Redis master",
              "HAProxy on {{ $labels.host }} sees no Redis data node answering role:master. Silenced while "
              "RedisNoMaster fires."),
    ]
    if len(settings.hosts["postgres"]) > 1:
        out.append(Alert(
            "RouterReplicaBackendDown", 'haproxy_backend_active_servers{job="router",proxy="postgres_replicas"} < 1',
            "2m", "warning", "The router on {{ $labels.host }} has no PostgreSQL replica for reads",
            "Read-only clients of port 5001 on {{ $labels.host }} fail: no replica passes the checks."))
    return tuple(out)
