"""MariaDB's server configuration (one file after Debian's own), Galera's settings in it, and the
arbitrator's defaults file. Pure."""

from __future__ import annotations

from components.mariadb import names as n
from components.settings import Host, Settings

HEADER = "# Rendered by the platform program (components/mariadb/render/server.py); do not edit."


def innodb_log_mb(buffer_pool_mb: int) -> int:
    """Redo log: a quarter of the buffer pool, 128 MB to 1 GB (enough for an hour's peak writes
    of a Mautic instance; a larger one only lengthens crash recovery)."""
    return max(128, min(1024, buffer_pool_mb // 4))


def gcache_mb(buffer_pool_mb: int) -> int:
    """Galera's write-set cache: a node that was away for a while catches up from it (IST) instead
    of a full copy (SST); sized like the redo log, at least 256 MB."""
    return max(256, min(2048, buffer_pool_mb // 2))


def provider_options(settings: Settings, tls_dir: str) -> str:
    m = settings.mariadb
    opts = [
        "socket.ssl=yes",
        f"socket.ssl_ca={tls_dir}/ca.crt",
        f"socket.ssl_cert={tls_dir}/host.crt",
        f"socket.ssl_key={tls_dir}/host.key",
        f"gcache.size={gcache_mb(m.buffer_pool_mb)}M",
        # After every data node lost power the cluster is brought back by platform-mariadb-recover
        # (the most advanced node bootstraps once all reported), not by a restored saved view: the
        # arbitrator keeps no state and a surviving garbd's stale one makes the restored component
        # abort ("Group requested repl_proto_ver: 127", mariadb-corporation/galera#671; seen on the lab).
        "pc.recovery=FALSE",
    ]
    return ";".join(opts)


def render_server_cnf(settings: Settings, host: Host) -> str:
    """/etc/mysql/mariadb.conf.d/90-platform.cnf on a database VM."""
    m = settings.mariadb
    lines = [
        HEADER,
        "[mysqld]",
        f"bind-address = {host.private_ip}",
        f"port = {n.MARIADB_PORT}",
        "skip-name-resolve = ON",
        f"max_connections = {m.max_connections}",
        "max_allowed_packet = 64M",
        "character_set_server = utf8mb4",
        "collation_server = utf8mb4_unicode_ci",
        "default_storage_engine = InnoDB",
        f"innodb_buffer_pool_size = {m.buffer_pool_mb}M",
        f"innodb_log_file_size = {innodb_log_mb(m.buffer_pool_mb)}M",
        # Every commit durable on this node's disk too: a power cut of every VM loses nothing.
        "innodb_flush_log_at_trx_commit = 1",
        "innodb_autoinc_lock_mode = 2",
        "binlog_format = ROW",
        # TLS for every remote client; the local socket (backups, the exporter, the check) is exempt.
        f"ssl_ca = {n.TLS_DIR}/ca.crt",
        f"ssl_cert = {n.TLS_DIR}/host.crt",
        f"ssl_key = {n.TLS_DIR}/host.key",
        "require_secure_transport = ON",
        "tls_version = TLSv1.2,TLSv1.3",
    ]
    if n.galera(settings):
        peers = ",".join(h.private_ip for h in n.members(settings))
        lines += [
            "",
            "# Galera: every node holds every commit before it is acknowledged.",
            "wsrep_on = ON",
            f"wsrep_provider = {n.GALERA_PROVIDER}",
            f"wsrep_cluster_name = {m.cluster_name}",
            f"wsrep_cluster_address = gcomm://{peers}",
            f"wsrep_node_address = {host.private_ip}",
            f"wsrep_node_name = {host.name}",
            f'wsrep_provider_options = "{provider_options(settings, n.TLS_DIR)}"',
            "wsrep_sst_method = mariabackup",
            # The SST donor's mariadb-backup logs in over the socket as the OS user `mysql`
            # (unix_socket, created by the package with every privilege): no password to keep.
            "wsrep_sst_auth = mysql:",
            # The router sends all writes to one node: no interleaved AUTO_INCREMENT steps (Mautic's
            # installer expects its first role to get id 1, mautic/mautic#11386).
            "wsrep_auto_increment_control = OFF",
            # A table without a primary key would replicate DELETEs slowly and wrongly: refuse it.
            "wsrep_mode = REQUIRED_PRIMARY_KEY",
            f"wsrep_slave_threads = {max(1, min(8, host.cpus * 2))}",
            "",
            "[sst]",
            # mariadb-backup streams over socat with TLS, the donor verifying the joiner's
            # certificate against the CA (MDEV-25359); the files are the server's [mysqld] ones.
            "ssl-mode = VERIFY_CA",
        ]
    return "\n".join(lines) + "\n"


def render_garb_defaults(settings: Settings) -> str:
    """/etc/default/garb on the arbitrator's host (Debian's galera-arbitrator-4)."""
    m = settings.mariadb
    nodes = " ".join(f"{h.private_ip}:{n.GALERA_PORT}" for h in n.data_hosts(settings))
    opts = ";".join([
        "socket.ssl=yes", f"socket.ssl_ca={n.GARB_TLS_DIR}/ca.crt", f"socket.ssl_cert={n.GARB_TLS_DIR}/host.crt",
        f"socket.ssl_key={n.GARB_TLS_DIR}/host.key",
    ])
    arb = n.arbitrator_host(settings)
    listen = f";gmcast.listen_addr=tcp://{arb.private_ip}:{n.GALERA_PORT}" if arb else ""
    return "\n".join([
        HEADER,
        f'GALERA_NODES="{nodes}"',
        f'GALERA_GROUP="{m.cluster_name}"',
        f'GALERA_OPTIONS="{opts}{listen}"',
        "",
    ])


def render_garb_dropin() -> str:
    """garb.service runs as `nobody` and is not restarted by Debian's unit: restart it always."""
    return "\n".join([
        HEADER,
        "[Unit]",
        "StartLimitIntervalSec=0",
        "[Service]",
        "Restart=always",
        "RestartSec=2",
        "",
    ])
