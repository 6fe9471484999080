"""Grafana dashboards, written by this project and generated from Python: one per component (hosts,
PostgreSQL + Patroni, PgBouncer, etcd, Redis + Sentinel, router, backups). Each panel is a title,
one or more PromQL queries and a unit; the JSON model is built here. Metric names are the real
exporters' (checked against the lab's Prometheus by the metric contract test). Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass

from components.monitoring.names import DATASOURCE_PROMETHEUS as PROMETHEUS_UID


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[tuple[str, str], ...]  # (PromQL, legend)
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    panels: tuple[Panel, ...]


def _p(title: str, expr: str, legend: str, unit: str = "short", kind: str = "timeseries") -> Panel:
    return Panel(title, ((expr, legend),), unit, kind)


DASHBOARDS: tuple[Dashboard, ...] = (
    Dashboard("platform-hosts", "Platform / Hosts", (
        _p("Up", 'up{job="node"}', "{{host}}", kind="stat"),
        _p("CPU busy", '1 - avg by (host) (rate(node_cpu_seconds_total{job="node",mode="idle"}[5m]))',
           "{{host}}", "percentunit"),
        _p("Memory available", 'node_memory_MemAvailable_bytes{job="node"} / node_memory_MemTotal_bytes{job="node"}',
           "{{host}}", "percentunit"),
        _p("Load (1 min)", 'node_load1{job="node"}', "{{host}}"),
        _p("Disk available", 'node_filesystem_avail_bytes{job="node",fstype!~"tmpfs|ramfs|devtmpfs|squashfs|nsfs"}'
           ' / node_filesystem_size_bytes{job="node",fstype!~"tmpfs|ramfs|devtmpfs|squashfs|nsfs"}',
           "{{host}} {{mountpoint}}", "percentunit"),
        _p("Network received", 'rate(node_network_receive_bytes_total{job="node",device!="lo"}[5m])',
           "{{host}} {{device}}", "Bps"),
    )),
    Dashboard("platform-postgres", "Platform / PostgreSQL + Patroni", (
        _p("Primary", 'patroni_primary{job="patroni"}', "{{host}}", kind="stat"),
        _p("Timeline", 'patroni_postgres_timeline{job="patroni"}', "{{host}}", kind="stat"),
        _p("Replication lag", 'max(patroni_xlog_location{job="patroni"}) - on() group_right() '
           '(patroni_xlog_replayed_location{job="patroni"} and on(instance) patroni_replica{job="patroni"} == 1)',
           "{{host}}", "bytes"),
        _p("Connections", 'sum by (host) (pg_stat_database_numbackends{job="postgres_exporter"})', "{{host}}"),
        _p("Commits / s", 'sum by (host) (rate(pg_stat_database_xact_commit{job="postgres_exporter"}[5m]))',
           "{{host}}", "ops"),
        _p("WAL archiving failures", 'pg_stat_archiver_failed_count{job="postgres_exporter"}', "{{host}}"),
        _p("Pending restart", 'patroni_pending_restart{job="patroni"}', "{{host}}", kind="stat"),
    )),
    Dashboard("platform-pgbouncer", "Platform / PgBouncer", (
        _p("Active clients", 'sum by (host, database) (pgbouncer_active_clients{job="pgbouncer_exporter"})',
           "{{host}} {{database}}"),
        _p("Waiting clients", 'sum by (host, database) (pgbouncer_waiting_clients{job="pgbouncer_exporter"})',
           "{{host}} {{database}}"),
        _p("Longest wait", 'max by (host, database) (pgbouncer_max_wait_seconds{job="pgbouncer_exporter"})',
           "{{host}} {{database}}", "s"),
        _p("Server connections", 'sum by (host) (pgbouncer_active_servers{job="pgbouncer_exporter"}'
           ' + pgbouncer_idle_servers{job="pgbouncer_exporter"})', "{{host}}"),
        _p("Transactions / s", 'sum by (host) (rate(pgbouncer_transactions_total{job="pgbouncer_exporter"}[5m]))',
           "{{host}}", "ops"),
    )),
    Dashboard("platform-etcd", "Platform / etcd", (
        _p("Has leader", 'etcd_server_has_leader{job="etcd"}', "{{host}}", kind="stat"),
        _p("Is leader", 'etcd_server_is_leader{job="etcd"}', "{{host}}", kind="stat"),
        _p("Leader changes", 'increase(etcd_server_leader_changes_seen_total{job="etcd"}[1h])', "{{host}}"),
        _p("Proposals pending", 'etcd_server_proposals_pending{job="etcd"}', "{{host}}"),
        _p("Database size", 'etcd_mvcc_db_total_size_in_bytes{job="etcd"}', "{{host}}", "bytes"),
    )),
    Dashboard("platform-redis", "Platform / Redis + Sentinel", (
        _p("Master", 'redis_instance_info{job="redis",role="master"}', "{{host}}", kind="stat"),
        _p("Connected replicas", 'redis_connected_slaves{job="redis"}', "{{host}}"),
        _p("Memory used / max", 'redis_memory_used_bytes{job="redis"} / redis_memory_max_bytes{job="redis"}',
           "{{host}}", "percentunit"),
        _p("Commands / s", 'rate(redis_commands_processed_total{job="redis"}[5m])', "{{host}}", "ops"),
        _p("Clients", 'redis_connected_clients{job="redis"}', "{{host}}"),
        _p("Sentinels that see the master", 'redis_sentinel_master_sentinels{job="sentinel"}', "{{host}}"),
        _p("Sentinel quorum ok", 'redis_sentinel_master_ckquorum_status{job="sentinel"}', "{{host}}", kind="stat"),
    )),
    Dashboard("platform-router", "Platform / Router", (
        _p("Backends up", 'haproxy_backend_active_servers{job="router"}', "{{host}} {{proxy}}"),
        _p("Sessions", 'haproxy_backend_current_sessions{job="router"}', "{{host}} {{proxy}}"),
        _p("Connection errors / s", 'rate(haproxy_backend_connection_errors_total{job="router"}[5m])',
           "{{host}} {{proxy}}", "ops"),
    )),
    Dashboard("platform-backups", "Platform / Backups", (
        _p("Newest PostgreSQL backup", 'time() - max by (type) (platform_pg_backup_last_success_timestamp_seconds)',
           "{{type}}", "s", "stat"),
        _p("Newest Redis backup", 'time() - max(platform_redis_backup_last_success_timestamp_seconds)',
           "redis", "s", "stat"),
        _p("Certificates expire in", 'min by (host, service) (probe_ssl_earliest_cert_expiry{job="tls"}) - time()',
           "{{host}} {{service}}", "s"),
        _p("Journals received", 'time() - platform_journal_remote_last_write_timestamp_seconds', "{{source}}", "s"),
    )),
)


def queries() -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, PromQL) of every query."""
    return [(d.uid, p.title, q) for d in DASHBOARDS for p in d.panels for q, _ in p.queries]


def _panel_json(i: int, p: Panel) -> dict[str, object]:
    width = 8 if p.kind == "stat" else 12
    per_row = 24 // width
    return {
        "id": i + 1,
        "type": p.kind,
        "title": p.title,
        "datasource": {"type": "prometheus", "uid": PROMETHEUS_UID},
        "gridPos": {"x": (i % per_row) * width, "y": (i // per_row) * 8, "w": width, "h": 8},
        "fieldConfig": {"defaults": {"unit": p.unit}, "overrides": []},
        "targets": [{"refId": chr(ord("A") + j), "expr": q, "legendFormat": legend,
                     "datasource": {"type": "prometheus", "uid": PROMETHEUS_UID}}
                    for j, (q, legend) in enumerate(p.queries)],
    }


def render_dashboard(d: Dashboard) -> str:
    model = {
        "uid": d.uid,
        "title": d.title,
        "tags": ["platform"],
        "editable": False,
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {"list": []},
        "panels": [_panel_json(i, p) for i, p in enumerate(d.panels)],
    }
    return json.dumps(model, indent=2, sort_keys=True) + "\n"
