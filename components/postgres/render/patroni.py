"""Patroni: its config.yml per node, the cluster-wide DCS settings, pg_hba, the memory sizing
derived from the VM, and the patroni.service drop-in that starts the launcher.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.plan import placeholder
from components.postgres.names import (
    ETCD_CLIENT_PORT,
    PATRONI_API_USER,
    PATRONI_LAUNCHER,
    PATRONI_PORT,
    PATRONI_TLS,
    PG_PORT,
    REPLICATION_USER,
    REWIND_USER,
    ROLE_CHANGE_CALLBACK,
    SECRET_PATRONI_API,
    SECRET_REPLICATION,
    SECRET_REWIND,
    SECRET_SUPERUSER,
    SOCKET_DIR,
    SUPERUSER,
    bin_dir,
    data_dir,
    etcd_members,
    stanza,
)
from components.postgres.render.common import _dump
from components.settings import Host, Settings


@dataclass(frozen=True)
class Sizing:
    """PostgreSQL memory/parallelism parameters derived from the VM size (classic pgtune ratios)."""

    shared_buffers_mb: int
    effective_cache_size_mb: int
    work_mem_kb: int
    maintenance_work_mem_mb: int
    max_worker_processes: int
    max_parallel_workers: int
    max_parallel_workers_per_gather: int


def sizing(memory_mb: int, cpus: int, max_connections: int) -> Sizing:
    shared = max(128, memory_mb // 4)
    # What a query may sort/hash in memory before spilling: the RAM not used by shared_buffers,
    # spread over all connections with 3 such operations each; at least 4 MB.
    work_kb = max(4096, (memory_mb - shared) * 1024 // (max_connections * 3))
    return Sizing(
        shared_buffers_mb=shared,
        effective_cache_size_mb=max(256, memory_mb * 3 // 4),
        work_mem_kb=work_kb,
        maintenance_work_mem_mb=min(2048, max(64, memory_mb // 16)),
        max_worker_processes=max(8, cpus),
        max_parallel_workers=max(2, cpus),
        max_parallel_workers_per_gather=max(1, cpus // 2),
    )


def etcd_hosts(settings: Settings) -> list[str]:
    return [f"{h.private_ip}:{ETCD_CLIENT_PORT}" for h in etcd_members(settings)]


def pg_hba(settings: Settings) -> list[str]:
    """Order matters: first match wins. TLS is required for every remote client."""
    rules = [
        # Patroni, pgBackRest and the backup schedule run as the postgres OS user.
        f"local   all             {SUPERUSER}                                peer",
        # Everything else local (PgBouncer over the socket, postgres_exporter) uses passwords.
        "local   all             all                                     scram-sha-256",
        "host    all             all             127.0.0.1/32            scram-sha-256",
        "host    all             all             ::1/128                 scram-sha-256",
        # Patroni reads the local timeline over a replication connection to localhost.
        f"host    replication     {REPLICATION_USER:<15} 127.0.0.1/32            scram-sha-256",
        f"host    replication     {REPLICATION_USER:<15} ::1/128                 scram-sha-256",
    ]
    for h in settings.hosts["postgres"]:
        # Streaming replication and pg_basebackup only from the database VMs.
        rules.append(f"hostssl replication     {REPLICATION_USER:<15} {h.private_ip + '/32':<23} scram-sha-256")
    rules += [
        # Remote clients (the other database VM: pg_rewind, Patroni, the databases step) over TLS.
        "hostssl all             all             0.0.0.0/0               scram-sha-256",
        "hostssl all             all             ::/0                    scram-sha-256",
        "hostnossl all           all             0.0.0.0/0               reject",
        "hostnossl all           all             ::/0                    reject",
    ]
    return rules


def dcs_config(settings: Settings) -> dict[str, object]:
    """Cluster-wide settings Patroni keeps in etcd (bootstrap.dcs; later `patronictl edit-config`)."""
    pg = settings.postgres
    cpus = min((h.cpus for h in settings.hosts["postgres"]), default=2)
    return {
        "ttl": pg.ttl,
        "loop_wait": pg.loop_wait,
        "retry_timeout": pg.retry_timeout,
        # A crashed primary gets this long to come back before a failover; low = fast recovery.
        "primary_start_timeout": pg.primary_start_timeout,
        "maximum_lag_on_failover": 1048576,
        "synchronous_mode": pg.synchronous,
        # Not strict: with the replica gone the primary keeps accepting writes (availability).
        "synchronous_mode_strict": False,
        # The primary keeps running while etcd has no quorum, as long as it sees every member.
        "failsafe_mode": True,
        "postgresql": {
            "use_pg_rewind": True,
            "use_slots": True,
            # Parameters that must be equal (or larger) on replicas live in the DCS.
            "parameters": {
                "max_connections": pg.max_connections,
                "max_worker_processes": max(8, cpus),
                "max_wal_senders": 10,
                "max_replication_slots": 10,
                "max_prepared_transactions": 0,
                "max_locks_per_transaction": 64,
                "wal_level": "replica",
                "wal_log_hints": "on",
                "hot_standby": "on",
                "track_commit_timestamp": "off",
                "wal_keep_size": "1GB",
                "max_wal_size": "2GB",
                "min_wal_size": "256MB",
                "password_encryption": "scram-sha-256",
            },
        },
    }


def render_dcs(settings: Settings) -> str:
    """The DCS settings as a patch for `patronictl edit-config --apply` (applied when it changes)."""
    return _dump(dcs_config(settings), f"Patroni cluster-wide settings of {settings.postgres.cluster_name}")


def patroni_config(settings: Settings, host: Host) -> dict[str, object]:
    pg = settings.postgres
    size = sizing(host.memory_mb, host.cpus, pg.max_connections)
    tls = {"ca": f"{PATRONI_TLS}/ca.crt", "cert": f"{PATRONI_TLS}/host.crt", "key": f"{PATRONI_TLS}/host.key"}
    ssl_conn = {"sslmode": "verify-ca", "sslrootcert": tls["ca"]}
    st = stanza(settings)
    return {
        "scope": pg.cluster_name,
        "namespace": "/service/",
        "name": host.name,
        "log": {"level": "INFO"},
        "restapi": {
            "listen": f"{host.private_ip}:{PATRONI_PORT}",
            "connect_address": f"{host.private_ip}:{PATRONI_PORT}",
            "certfile": tls["cert"],
            "keyfile": tls["key"],
            "cafile": tls["ca"],
            # Health checks (GET/OPTIONS) need no password; switchover/restart/reload do.
            "authentication": {"username": PATRONI_API_USER, "password": placeholder(SECRET_PATRONI_API)},
        },
        # patronictl, and member-to-member calls (failsafe), verify the API's certificate.
        "ctl": {"cacert": tls["ca"], "certfile": tls["cert"], "keyfile": tls["key"]},
        "etcd3": {
            "hosts": etcd_hosts(settings),
            "protocol": "https",
            "cacert": tls["ca"],
            "cert": tls["cert"],
            "key": tls["key"],
        },
        "bootstrap": {
            "dcs": dcs_config(settings),
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
            # Required by the validator of Patroni 3.0 (Debian 12); postgresql.pg_hba wins at runtime.
            "pg_hba": pg_hba(settings),
        },
        "postgresql": {
            "listen": f"{host.private_ip},127.0.0.1:{PG_PORT}",
            "connect_address": f"{host.private_ip}:{PG_PORT}",
            "data_dir": data_dir(settings),
            "bin_dir": bin_dir(settings),
            "pgpass": "/var/lib/postgresql/.pgpass_patroni",
            "authentication": {
                "superuser": {"username": SUPERUSER, "password": placeholder(SECRET_SUPERUSER), **ssl_conn},
                "replication": {"username": REPLICATION_USER, "password": placeholder(SECRET_REPLICATION),
                                **ssl_conn},
                "rewind": {"username": REWIND_USER, "password": placeholder(SECRET_REWIND), **ssl_conn},
            },
            "parameters": {
                "unix_socket_directories": SOCKET_DIR,
                "ssl": "on",
                "ssl_cert_file": tls["cert"],
                "ssl_key_file": tls["key"],
                "ssl_ca_file": tls["ca"],
                "ssl_min_protocol_version": "TLSv1.2",
                "shared_buffers": f"{size.shared_buffers_mb}MB",
                "effective_cache_size": f"{size.effective_cache_size_mb}MB",
                "work_mem": f"{size.work_mem_kb}kB",
                "maintenance_work_mem": f"{size.maintenance_work_mem_mb}MB",
                "max_parallel_workers": size.max_parallel_workers,
                "max_parallel_workers_per_gather": size.max_parallel_workers_per_gather,
                "random_page_cost": 1.1,
                "effective_io_concurrency": 200,
                "checkpoint_completion_target": 0.9,
                # pgBackRest asynchronous archiving: PostgreSQL hands each segment to a local queue
                # (spool) and a background process ships the queue to S3 in parallel.
                "archive_mode": "on",
                "archive_command": f"/usr/bin/pgbackrest --stanza={st} archive-push %p",
                "archive_timeout": "60s",
                "log_line_prefix": "%m [%p] %q%u@%d ",
                "log_min_duration_statement": "1s",
                "log_checkpoints": "on",
                "log_lock_waits": "on",
                "log_temp_files": 0,
                "shared_preload_libraries": "pg_stat_statements",
            },
            # Replicas catch up from the archive when streaming alone is not enough.
            "recovery_conf": {"restore_command": f"/usr/bin/pgbackrest --stanza={st} archive-get %f \"%p\""},
            "pg_hba": pg_hba(settings),
            "create_replica_methods": ["pgbackrest", "basebackup"],
            # A replica is restored from the latest backup (+WAL) when one exists, else copied.
            "pgbackrest": {
                "command": f"/usr/bin/pgbackrest --stanza={st} --delta restore",
                "keep_data": True,
                "no_params": True,
            },
            "basebackup": [{"checkpoint": "fast"}, {"max-rate": "200M"}],
            # On a promotion the new primary's WAL moves on two segments (files/on-role-change.sh
            # says why: a rejoining old primary no longer waits for it).
            "callbacks": {"on_role_change": ROLE_CHANGE_CALLBACK},
            "remove_data_directory_on_rewind_failure": True,
            "remove_data_directory_on_diverged_timelines": True,
        },
        # Uses /dev/watchdog where the VM has one (softdog); containers have none.
        "watchdog": {"mode": "automatic"},
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }


def render_patroni(settings: Settings, host: Host) -> str:
    return _dump(patroni_config(settings, host), f"Patroni configuration of {host.name}")


def render_patroni_dropin() -> str:
    """patroni.service drop-in: start Patroni through the launcher (host/patroni_launcher.py)."""
    return "\n".join([
        "# Rendered by the platform program (components/postgres/render.py).",
        "[Service]",
        "ExecStart=",
        f"ExecStart=/usr/bin/python3 {PATRONI_LAUNCHER} /etc/patroni/config.yml",
        "",
    ])
