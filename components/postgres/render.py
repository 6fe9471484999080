"""Pure renderers for the PostgreSQL HA cluster's files: Patroni, etcd, PgBouncer, pgBackRest,
the backup schedule, postgres_exporter, prometheus-pgbouncer-exporter and the database/role
manifest. No Pulumi imports.

Secrets never appear in rendered text: files carry `{{secret:NAME}}` placeholders that step_lib.sh
(`put`/`bundled`) substitutes on the host from the step's secrets. The placeholder names are the
`SECRET_*` constants below; components/postgres/__init__.py passes a value for each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import yaml

from components.settings import Host, Settings

# --- names shared by the renderers, the component and the host scripts -------------------------

PG_PORT = 5432
PATRONI_PORT = 8008
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
PGBOUNCER_PORT = 6432
EXPORTER_PORT = 9187
PGBOUNCER_EXPORTER_PORT = 9127  # prometheus-pgbouncer-exporter (the package's default port)

SUPERUSER = "postgres"
REPLICATION_USER = "replicator"
REWIND_USER = "rewind_user"
MONITORING_USER = "postgres_exporter"
BACKUP_USER = "platform_backup"
PGBOUNCER_AUTH_USER = "pgbouncer_auth"
PATRONI_API_USER = "patroni"

SECRET_SUPERUSER = "pg_superuser_password"
SECRET_REPLICATION = "pg_replication_password"
SECRET_REWIND = "pg_rewind_password"
SECRET_MONITORING = "pg_monitoring_password"
SECRET_BACKUP = "pg_backup_password"
SECRET_PGBOUNCER_AUTH = "pgbouncer_auth_password"
SECRET_PATRONI_API = "patroni_api_password"
SECRET_CIPHER = "pgbackrest_cipher_pass"
SECRET_S3_KEY = "s3_access_key"
SECRET_S3_SECRET = "s3_secret_key"
SECRET_HOST_KEY = "host_key"


def app_secret(db: str) -> str:
    return f"pg_app_{db}_password"


def placeholder(name: str) -> str:
    return "{{secret:" + name + "}}"


# --- paths on the database VMs ------------------------------------------------------------------

BIN_DIR = "/usr/lib/postgresql/{v}/bin"
DATA_DIR = "/var/lib/postgresql/{v}/platform"
SOCKET_DIR = "/var/run/postgresql"
PATRONI_CONFIG = "/etc/patroni/config.yml"
PATRONI_TLS = "/etc/patroni/tls"  # ca.crt, host.crt, host.key (postgres:postgres)
ETCD_TLS = "/etc/etcd/tls"  # same certificate, owned by etcd
PGBOUNCER_TLS = "/etc/pgbouncer/tls"
PGBOUNCER_SOCKET_DIR = "/var/run/pgbouncer"
PGBACKREST_CONF = "/etc/pgbackrest.conf"
PGBACKREST_SPOOL = "/var/spool/pgbackrest"
PGBACKREST_CA = "/etc/pgbackrest/s3-ca.crt"
BACKUP_SCRIPT = "/usr/local/sbin/platform-pg-backup"


def data_dir(settings: Settings) -> str:
    return DATA_DIR.format(v=settings.postgres.version)


def bin_dir(settings: Settings) -> str:
    return BIN_DIR.format(v=settings.postgres.version)


def stanza(settings: Settings) -> str:
    return settings.postgres.cluster_name


def _dump(data: object, header: str) -> str:
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=120)
    return f"# {header}\n# Rendered by the platform program (components/postgres/render.py); do not edit.\n{body}"


# --- sizing -------------------------------------------------------------------------------------


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


# --- Patroni ------------------------------------------------------------------------------------


def etcd_hosts(settings: Settings) -> list[str]:
    return [f"{h.private_ip}:{ETCD_CLIENT_PORT}" for h in settings.etcd_members()]


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
    for h in settings.hosts.postgres:
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
    cpus = min((h.cpus for h in settings.hosts.postgres), default=2)
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
            "remove_data_directory_on_rewind_failure": True,
            "remove_data_directory_on_diverged_timelines": True,
        },
        # Uses /dev/watchdog where the VM has one (softdog); containers have none.
        "watchdog": {"mode": "automatic"},
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }


def render_patroni(settings: Settings, host: Host) -> str:
    return _dump(patroni_config(settings, host), f"Patroni configuration of {host.name}")


# --- etcd ---------------------------------------------------------------------------------------


def render_etcd(settings: Settings, host: Host) -> str:
    """/etc/default/etcd for Debian's etcd-server (its unit reads ETCD_* from there)."""
    members = settings.etcd_members()
    initial = ",".join(f"{m.name}=https://{m.private_ip}:{ETCD_PEER_PORT}" for m in members)
    ip = host.private_ip
    env = {
        "ETCD_NAME": host.name,
        "ETCD_DATA_DIR": etcd_data_dir(settings),
        "ETCD_LISTEN_PEER_URLS": f"https://{ip}:{ETCD_PEER_PORT}",
        "ETCD_LISTEN_CLIENT_URLS": f"https://{ip}:{ETCD_CLIENT_PORT},https://127.0.0.1:{ETCD_CLIENT_PORT}",
        "ETCD_INITIAL_ADVERTISE_PEER_URLS": f"https://{ip}:{ETCD_PEER_PORT}",
        "ETCD_ADVERTISE_CLIENT_URLS": f"https://{ip}:{ETCD_CLIENT_PORT}",
        "ETCD_INITIAL_CLUSTER": initial,
        "ETCD_INITIAL_CLUSTER_STATE": "new",
        "ETCD_INITIAL_CLUSTER_TOKEN": f"{settings.postgres.cluster_name}-{settings.stack}",
        "ETCD_CERT_FILE": f"{ETCD_TLS}/host.crt",
        "ETCD_KEY_FILE": f"{ETCD_TLS}/host.key",
        "ETCD_TRUSTED_CA_FILE": f"{ETCD_TLS}/ca.crt",
        "ETCD_CLIENT_CERT_AUTH": "true",
        "ETCD_PEER_CERT_FILE": f"{ETCD_TLS}/host.crt",
        "ETCD_PEER_KEY_FILE": f"{ETCD_TLS}/host.key",
        "ETCD_PEER_TRUSTED_CA_FILE": f"{ETCD_TLS}/ca.crt",
        "ETCD_PEER_CLIENT_CERT_AUTH": "true",
        # Pre-vote (off by default in etcd 3.4, Debian 12's): a member cut off by a partition
        # campaigns with ever higher terms, and on reconnecting would depose the healthy leader;
        # the ~2 s election that follows made Patroni demote the new primary (pg-partition drill).
        "ETCD_PRE_VOTE": "true",
        "ETCD_HEARTBEAT_INTERVAL": "100",
        "ETCD_ELECTION_TIMEOUT": "1000",
        "ETCD_AUTO_COMPACTION_MODE": "periodic",
        "ETCD_AUTO_COMPACTION_RETENTION": "1",
        "ETCD_QUOTA_BACKEND_BYTES": str(2 * 1024 * 1024 * 1024),
    }
    lines = [
        f"# etcd member {host.name} of the {len(members)}-member DCS of {settings.postgres.cluster_name}.",
        "# Rendered by the platform program (components/postgres/render.py); do not edit.",
    ]
    lines += [f'{k}="{v}"' for k, v in env.items()]
    return "\n".join(lines) + "\n"


def render_etcd_join_dropin() -> str:
    """etcd.service drop-in: /etc/etcd/join.env, written only when a member joins a running
    cluster (etcd.sh), overrides the bootstrap settings of /etc/default/etcd."""
    return "# Rendered by the platform program (components/postgres/render.py).\n[Service]\n" \
        "EnvironmentFile=-/etc/etcd/join.env\n"


ETCD_LEADER_TIMER = "platform-etcd-leader.timer"


def render_etcd_leader_units() -> dict[str, str]:
    """The witness's service + timer that keep the raft leader there (files/etcd-leader.sh)."""
    service = "\n".join([
        "# Rendered by the platform program (components/postgres/render.py).",
        "[Unit]",
        "Description=Keep the etcd raft leader on this witness VM (platform)",
        "After=etcd.service",
        "[Service]",
        "Type=oneshot",
        "ExecStart=/usr/local/sbin/platform-etcd-leader",
        "",
    ])
    timer = "\n".join([
        "# Rendered by the platform program (components/postgres/render.py).",
        "[Unit]",
        "Description=Keep the etcd raft leader on this witness VM (platform)",
        "[Timer]",
        "OnBootSec=30s",
        "OnUnitActiveSec=30s",
        "AccuracySec=1s",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ])
    return {"etcd-leader.service": service, "etcd-leader.timer": timer}


def etcd_step_params(settings: Settings, host: Host) -> dict[str, str]:
    members = settings.etcd_members()
    return {
        "PREFERRED_LEADER": "1" if host.name == settings.postgres.etcd_witness else "0",
        "MEMBER_NAME": host.name,
        "DATA_DIR": etcd_data_dir(settings),
        "PEER_URL": f"https://{host.private_ip}:{ETCD_PEER_PORT}",
        "OWN_ENDPOINT": f"https://{host.private_ip}:{ETCD_CLIENT_PORT}",
        "OTHER_ENDPOINTS": ",".join(f"https://{m.private_ip}:{ETCD_CLIENT_PORT}" for m in members if m != host),
        "ALL_ENDPOINTS": ",".join(f"https://{m.private_ip}:{ETCD_CLIENT_PORT}" for m in members),
        "MEMBER_PEER_URLS": ",".join(f"https://{m.private_ip}:{ETCD_PEER_PORT}" for m in members),
    }


def etcd_data_dir(settings: Settings) -> str:
    # Our own data directory: the package's auto-started default member lives elsewhere.
    return f"/var/lib/etcd/{settings.postgres.cluster_name}"


PATRONI_LAUNCHER = "/usr/local/lib/platform-patroni/patroni_launcher.py"


def render_patroni_dropin() -> str:
    """patroni.service drop-in: start Patroni through the launcher (host/patroni_launcher.py)."""
    return "\n".join([
        "# Rendered by the platform program (components/postgres/render.py).",
        "[Service]",
        "ExecStart=",
        f"ExecStart=/usr/bin/python3 {PATRONI_LAUNCHER} /etc/patroni/config.yml",
        "",
    ])


def etcd_endpoints(settings: Settings) -> str:
    return ",".join(f"https://{h}" for h in etcd_hosts(settings))


# --- PgBouncer ----------------------------------------------------------------------------------


def pool_size(settings: Settings) -> int:
    """Server connections per database pool: max_connections less headroom, shared by the databases."""
    pg = settings.postgres
    return max(5, (pg.max_connections - 15) // max(1, len(pg.databases)))


def render_pgbouncer(settings: Settings, host: Host) -> str:
    pg = settings.postgres
    dbs = []
    for db in pg.databases:
        mode = pg.pool_mode_overrides.get(db, pg.pool_mode)
        dbs.append(f"{db} = host={SOCKET_DIR} port={PG_PORT} dbname={db} pool_mode={mode}")
    size = pool_size(settings)
    lines = [
        f"; PgBouncer of {host.name}. Rendered by the platform program (components/postgres/render.py).",
        "[databases]",
        *dbs,
        "",
        "[pgbouncer]",
        f"listen_addr = {host.private_ip},127.0.0.1",
        f"listen_port = {PGBOUNCER_PORT}",
        f"unix_socket_dir = {PGBOUNCER_SOCKET_DIR}",
        f"pidfile = {PGBOUNCER_SOCKET_DIR}/pgbouncer.pid",
        "logfile = /var/log/postgresql/pgbouncer.log",
        "auth_type = scram-sha-256",
        "auth_file = /etc/pgbouncer/userlist.txt",
        # App roles are looked up in PostgreSQL (no copy of their verifiers here) by a dedicated
        # role through a SECURITY DEFINER function that exists in every app database.
        f"auth_user = {PGBOUNCER_AUTH_USER}",
        "auth_query = SELECT username, password FROM pgbouncer.get_auth($1)",
        f"pool_mode = {pg.pool_mode}",
        f"default_pool_size = {size}",
        "min_pool_size = 0",
        "reserve_pool_size = 5",
        f"max_db_connections = {size + 5}",
        "max_client_conn = 2000",
        "server_reset_query = DISCARD ALL",
        "server_check_delay = 10",
        # After PostgreSQL restarts on this node (crash, Patroni restart), retry the server login
        # after 1 s instead of failing clients for the default 15 s.
        "server_login_retry = 1",
        # pgjdbc (Keycloak) sends extra_float_digits at startup.
        "ignore_startup_parameters = extra_float_digits,options",
        f"stats_users = {MONITORING_USER}",
        "admin_users =",
        # TLS for clients arriving over TCP (the router passes TLS through untouched).
        "client_tls_sslmode = require",
        f"client_tls_cert_file = {PGBOUNCER_TLS}/host.crt",
        f"client_tls_key_file = {PGBOUNCER_TLS}/host.key",
        f"client_tls_ca_file = {PGBOUNCER_TLS}/ca.crt",
        "client_tls_protocols = secure",
        "",
    ]
    return "\n".join(lines)


def render_userlist() -> str:
    """Only the roles PgBouncer itself needs a password for (auth_query user, stats user)."""
    return "".join(
        f'"{u}" "{placeholder(s)}"\n'
        for u, s in ((PGBOUNCER_AUTH_USER, SECRET_PGBOUNCER_AUTH), (MONITORING_USER, SECRET_MONITORING))
    )


# --- pgBackRest ---------------------------------------------------------------------------------


def s3_host_port(endpoint: str) -> tuple[str, int]:
    parts = urlsplit(endpoint)
    return parts.hostname or "", parts.port or 443


def render_pgbackrest(settings: Settings, bucket: str) -> str:
    s3 = settings.s3
    host, port = s3_host_port(s3.endpoint)
    pg = settings.postgres
    lines = [
        "# pgBackRest. Rendered by the platform program (components/postgres/render.py); do not edit.",
        "[global]",
        "repo1-type=s3",
        f"repo1-s3-endpoint={host}",
        f"repo1-storage-port={port}",
        f"repo1-s3-bucket={bucket}",
        f"repo1-s3-region={s3.region}",
        "repo1-s3-uri-style=path",
        f"repo1-s3-key={placeholder(SECRET_S3_KEY)}",
        f"repo1-s3-key-secret={placeholder(SECRET_S3_SECRET)}",
        f"repo1-path=/pgbackrest/{pg.cluster_name}",
    ]
    if s3.ca_certificate:
        # `repo1-storage-ca-file` is the current name of the former `repo1-s3-ca-file`.
        lines.append(f"repo1-storage-ca-file={PGBACKREST_CA}")
    lines += [
        "repo1-cipher-type=aes-256-cbc",
        f"repo1-cipher-pass={placeholder(SECRET_CIPHER)}",
        f"repo1-retention-full={pg.backup.retention_full}",
        "repo1-retention-full-type=count",
        "start-fast=y",
        "delta=y",
        "compress-type=zst",
        "process-max=2",
        "archive-async=y",
        f"spool-path={PGBACKREST_SPOOL}",
        # If S3 is unreachable, WAL is dropped (and the gap logged) rather than filling pg_wal
        # until PostgreSQL stops: the next full backup restarts the chain.
        "archive-push-queue-max=4GiB",
        "archive-get-queue-max=256MiB",
        "log-level-console=info",
        "log-level-file=detail",
        "",
        f"[{stanza(settings)}]",
        f"pg1-path={data_dir(settings)}",
        f"pg1-port={PG_PORT}",
        f"pg1-socket-path={SOCKET_DIR}",
        "",
    ]
    return "\n".join(lines)


def render_backup_cron(settings: Settings) -> str:
    """Full and incremental backups on every node; the script acts only on the primary."""
    b = settings.postgres.backup
    return (
        "# pgBackRest schedule. Rendered by the platform program; runs on every database VM,\n"
        f"# {BACKUP_SCRIPT} backs up only where pg_is_in_recovery() is false (the primary).\n"
        "SHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        f"{b.full_schedule} postgres {BACKUP_SCRIPT} full\n"
        f"{b.incremental_schedule} postgres {BACKUP_SCRIPT} incr\n"
    )


def render_backup_script(settings: Settings) -> str:
    st = stanza(settings)
    return f"""#!/bin/sh
# Rendered by the platform program: one pgBackRest backup, only on the current primary.
set -eu
type=${{1:?usage: $0 full|incr|diff}}
in_recovery=$(psql -h {SOCKET_DIR} -p {PG_PORT} -XAtqc 'SELECT pg_is_in_recovery()' postgres 2>/dev/null \
  || echo unknown)
if [ "$in_recovery" != f ]; then
  logger -t platform-pg-backup "skipping $type backup: not the primary (pg_is_in_recovery=$in_recovery)"
  exit 0
fi
exec flock -n /tmp/platform-pg-backup.lock pgbackrest --stanza={st} --type="$type" backup
"""


# --- postgres_exporter, databases ---------------------------------------------------------------


def render_exporter_defaults(host: Host) -> str:
    # URL form on purpose: postgres_exporter logs the DSN of a failed connection and masks the
    # password only when it can parse the DSN as a URL (the key=value form is logged verbatim).
    # The generated password is alphanumeric, so it needs no URL escaping.
    dsn = (f"postgresql://{MONITORING_USER}:{placeholder(SECRET_MONITORING)}@:{PG_PORT}/postgres"
           f"?host={SOCKET_DIR}&sslmode=disable")
    return (
        "# postgres_exporter. Rendered by the platform program; listens on the private address only.\n"
        f"DATA_SOURCE_NAME='{dsn}'\n"
        f'ARGS="--web.listen-address={host.private_ip}:{EXPORTER_PORT}"\n'
    )


# --- prometheus-pgbouncer-exporter --------------------------------------------------------------

PGBOUNCER_EXPORTER_LAUNCHER = "/usr/local/lib/platform-pgbouncer-exporter/pgbouncer-exporter"
PGBOUNCER_EXPORTER_PGPASS = "/etc/prometheus-pgbouncer-exporter.pgpass"


def render_pgbouncer_exporter(host: Host) -> str:
    """/etc/prometheus-pgbouncer-exporter.conf (ConfigArgParse `key = value`, the exporter's long
    option names). It reads PgBouncer's admin console (the virtual `pgbouncer` database) as the stats
    user over PgBouncer's own Unix socket: no TLS there (client_tls_sslmode applies to TCP clients),
    SCRAM against userlist.txt. The exporter has no password option: libpq reads it from
    PGPASSFILE (render_pgbouncer_exporter_pgpass, set by render_pgbouncer_exporter_unit)."""
    return (
        "# prometheus-pgbouncer-exporter. Rendered by the platform program (components/postgres/render.py).\n"
        "# Metrics on the private address only; PgBouncer's admin console over its Unix socket.\n"
        f"host = {host.private_ip}\n"
        f"port = {PGBOUNCER_EXPORTER_PORT}\n"
        f"pgbouncer-host = {PGBOUNCER_SOCKET_DIR}\n"
        f"pgbouncer-port = {PGBOUNCER_PORT}\n"
        f"pgbouncer-user = {MONITORING_USER}\n"
    )


def render_pgbouncer_exporter_pgpass() -> str:
    """libpq password file of the exporter (0600, owned by the user it runs as). Host `*`: libpq
    matches a socket directory other than its compiled-in default only literally. The generated
    password is alphanumeric, so it needs no `:`/`\\` escaping."""
    return f"*:{PGBOUNCER_PORT}:pgbouncer:{MONITORING_USER}:{placeholder(SECRET_MONITORING)}\n"


def render_pgbouncer_exporter_unit() -> str:
    """systemd drop-in for the package's unit (User=postgres, BindsTo=pgbouncer.service, CONFIG=the
    .conf above): run it through the launcher (host/pgbouncer_exporter.py: PgBouncer >= 1.8 stats,
    reconnects), give libpq the password file, restart it if it exits (e.g. PgBouncer not yet up)."""
    return (
        "# Rendered by the platform program (components/postgres/render.py).\n"
        "[Service]\n"
        "ExecStart=\n"
        f"ExecStart=/usr/bin/python3 {PGBOUNCER_EXPORTER_LAUNCHER}\n"
        f"Environment=PGPASSFILE={PGBOUNCER_EXPORTER_PGPASS}\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
    )


@dataclass(frozen=True)
class Role:
    name: str
    secret: str
    kind: str  # app | monitoring | backup | pgbouncer_auth


# PostgreSQL's own count, and RFC 7677's minimum: Go's lib/pq (postgres_exporter) refuses fewer.
SCRAM_ITERATIONS = 4096


def roles(settings: Settings) -> list[Role]:
    out = [Role(db, app_secret(db), "app") for db in settings.postgres.databases]
    out += [
        Role(MONITORING_USER, SECRET_MONITORING, "monitoring"),
        Role(BACKUP_USER, SECRET_BACKUP, "backup"),
        Role(PGBOUNCER_AUTH_USER, SECRET_PGBOUNCER_AUTH, "pgbouncer_auth"),
    ]
    return out


def render_roles(settings: Settings) -> str:
    """`name<TAB>secret<TAB>kind` per role; the databases step creates each and sets its password."""
    return "".join(f"{r.name}\t{r.secret}\t{r.kind}\n" for r in roles(settings))


def render_databases(databases: Sequence[str]) -> str:
    """`database<TAB>owner` per app database (one owner role per database, same name)."""
    return "".join(f"{db}\t{db}\n" for db in databases)


def render_app_db_sql() -> str:
    """Run in every app database: PgBouncer's lookup function, idempotent, reports what it created."""
    return f"""-- Rendered by the platform program. psql -v db=<database> -f this file.
SELECT NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'pgbouncer') AS need_schema \\gset
\\if :need_schema
CREATE SCHEMA pgbouncer;
\\echo platform-changed: schema pgbouncer in :db
\\endif
SELECT to_regprocedure('pgbouncer.get_auth(text)') IS NULL AS need_function \\gset
\\if :need_function
CREATE FUNCTION pgbouncer.get_auth(p_usename text)
  RETURNS TABLE (username text, password text)
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
AS $$ SELECT usename::text, passwd::text FROM pg_catalog.pg_shadow
      WHERE usename = p_usename AND NOT usesuper $$;
REVOKE ALL ON FUNCTION pgbouncer.get_auth(text) FROM PUBLIC;
\\echo platform-changed: function pgbouncer.get_auth in :db
\\endif
GRANT USAGE ON SCHEMA pgbouncer TO {PGBOUNCER_AUTH_USER};
GRANT EXECUTE ON FUNCTION pgbouncer.get_auth(text) TO {PGBOUNCER_AUTH_USER};
"""


def secret_names(settings: Settings) -> list[str]:
    """Every placeholder any rendered file of this component may contain."""
    return [
        SECRET_SUPERUSER, SECRET_REPLICATION, SECRET_REWIND, SECRET_MONITORING, SECRET_BACKUP,
        SECRET_PGBOUNCER_AUTH, SECRET_PATRONI_API, SECRET_CIPHER, SECRET_S3_KEY, SECRET_S3_SECRET,
    ] + [app_secret(db) for db in settings.postgres.databases]
