"""`platform:mariadb`: MariaDB for Mautic on the database VMs (components/mariadb/)."""

from __future__ import annotations

from typing import Any

from components.settings.model import Inventory, MariadbSettings, PostgresSettings
from components.settings.reader import NAME_RE, NAME_WHAT, Reader, cron

# PostgreSQL takes a quarter of a database VM for shared_buffers (components/postgres/render/
# patroni.py); the InnoDB buffer pool gets an eighth by default and at most this share, so the
# two caches together leave the VM at least 40 % for connections, the page cache and the OS.
BUFFER_POOL_MAX_SHARE = 0.35


def parse_mariadb(r: Reader, raw: Any, inv: Inventory, postgres: PostgresSettings, mautic_on: bool) -> MariadbSettings:
    m = r.obj("mariadb", raw, ("enabled", "clusterName", "maxConnections", "bufferPoolMb", "backup"))
    enabled = r.boolean("mariadb.enabled", m.get("enabled"), mautic_on)
    if mautic_on and not enabled:
        r.problem("mariadb.enabled", "is false but apps.mautic is enabled; Mautic supports only MySQL/MariaDB")
    mem = min((h.memory_mb for h in inv["postgres"]), default=4096)
    buffer_pool = r.integer("mariadb.bufferPoolMb", m.get("bufferPoolMb"), max(128, mem // 8), lo=64,
                            hi=4 * 1024 * 1024)
    if inv["postgres"] and buffer_pool > mem * BUFFER_POOL_MAX_SHARE:
        r.problem("mariadb.bufferPoolMb", f"{buffer_pool} MB is more than {int(BUFFER_POOL_MAX_SHARE * 100)}% of "
                  f"the smallest database VM ({mem} MB), which PostgreSQL shares (a quarter for its buffers)")
    b = r.obj("mariadb.backup", m.get("backup"), ("fullSchedule", "incrementalSchedule", "retentionDays"))
    return MariadbSettings(
        enabled=enabled,
        cluster_name=r.string("mariadb.clusterName", m.get("clusterName"), "platform-mariadb", pattern=NAME_RE,
                              what=NAME_WHAT),
        max_connections=r.integer("mariadb.maxConnections", m.get("maxConnections"),
                                  max(100, min(500, mem // 32)), lo=20, hi=5000),
        buffer_pool_mb=buffer_pool,
        # postgres.etcdWitness is validated so that database VMs + witness are an odd number >= 3
        # (or one VM alone): Galera's membership is the same.
        arbitrator=postgres.etcd_witness if len(inv["postgres"]) > 1 else None,
        full_schedule=cron(r, "mariadb.backup.fullSchedule", b.get("fullSchedule"), "45 1 * * *"),
        incremental_schedule=cron(r, "mariadb.backup.incrementalSchedule", b.get("incrementalSchedule"),
                                  "15 * * * *"),
        retention_days=r.integer("mariadb.backup.retentionDays", b.get("retentionDays"), 7, lo=1, hi=3650),
    )
