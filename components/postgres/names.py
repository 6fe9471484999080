"""Names the PostgreSQL component shares between its renderers, plan, contract, checks and drills:
ports, roles, secret names, paths on the database VMs, and the etcd membership. Pure; each
constant has its one definition here.
"""

from __future__ import annotations

from components.plan import SECRET_S3_ACCESS, SECRET_S3_SECRET  # noqa: F401 (the shared S3 pair, re-exported)
from components.settings import Host, Settings

# --- names shared by the renderers, the component and the host scripts -------------------------

PG_PORT = 5432
PATRONI_PORT = 8008
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
# etcd's plain metrics listener (ETCD_LISTEN_METRICS_URLS): /metrics and /health, no client TLS.
ETCD_METRICS_PORT = 2381
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
SECRET_S3_KEY = SECRET_S3_ACCESS
SECRET_HOST_KEY = "host_key"


def app_secret(db: str) -> str:
    return f"pg_app_{db}_password"


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

PATRONI_LAUNCHER = "/usr/local/lib/platform-patroni/patroni_launcher.py"
ROLE_CHANGE_CALLBACK = "/usr/local/lib/platform-patroni/on-role-change"  # files/on-role-change.sh
ETCD_LEADER_TIMER = "platform-etcd-leader.timer"
PGBOUNCER_EXPORTER_LAUNCHER = "/usr/local/lib/platform-pgbouncer-exporter/pgbouncer-exporter"
PGBOUNCER_EXPORTER_PGPASS = "/etc/prometheus-pgbouncer-exporter.pgpass"
# PostgreSQL's own count, and RFC 7677's minimum: Go's lib/pq (postgres_exporter) refuses fewer.
SCRAM_ITERATIONS = 4096


def data_dir(settings: Settings) -> str:
    return DATA_DIR.format(v=settings.postgres.version)


def bin_dir(settings: Settings) -> str:
    return BIN_DIR.format(v=settings.postgres.version)


def stanza(settings: Settings) -> str:
    return settings.postgres.cluster_name


def etcd_data_dir(settings: Settings) -> str:
    # Our own data directory: the package's auto-started default member lives elsewhere.
    return f"/var/lib/etcd/{settings.postgres.cluster_name}"


def etcd_members(settings: Settings) -> tuple[Host, ...]:
    """The DCS quorum: every PostgreSQL VM plus the witness, when one is configured."""
    witness = settings.postgres.etcd_witness
    return settings.hosts["postgres"] + ((settings.hosts.by_name(witness),) if witness else ())


