"""Pure renderers for the Redis/Sentinel component: redis.conf, sentinel.conf, exporter defaults,
the start-up guard's parameters, the backup configuration and the router's HAProxy section.

No Pulumi imports. Secrets appear only as `{{secret:NAME}}` placeholders (step_lib.sh substitutes
them on the host); the names are the `SECRET_*` constants and `app_secret(app)` below.

Topology (DESIGN.md): every Redis VM runs a Sentinel; the first two Redis VMs (or the only one)
run redis-server ("data nodes"), further VMs run only a Sentinel. The first Redis VM is the
*initial* master: the one that starts as master when no Sentinel can be asked (first boot).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from urllib.parse import urlsplit

from components.redis.schedule import cron_to_oncalendar
from components.router import render as router_render
from components.settings import Host, Settings

REDIS_PORT = 6379
SENTINEL_PORT = 26379
EXPORTER_PORT = 9121  # redis_exporter for the local redis-server
SENTINEL_EXPORTER_PORT = 9122  # redis_exporter in Sentinel mode for the local Sentinel
ROUTER_PORT = 6379  # the router's Redis listener (HAProxy, `listen redis`)

# Secret names (files refer to them as {{secret:NAME}}).
SECRET_ADMIN = "redis_password"  # requirepass (the `default` user) and masterauth
SECRET_SENTINEL = "redis_sentinel"  # ACL user `sentinel`
SECRET_EXPORTER = "redis_exporter"  # ACL user `exporter`
SECRET_HEALTHCHECK = "redis_healthcheck"  # ACL user `healthcheck` (the router's tcp-check)
SECRET_BACKUP = "redis_backup"  # ACL user `backup`
SECRET_S3_ACCESS = "s3_access_key"
SECRET_S3_SECRET = "s3_secret_key"

# ACL rules. Apps: everything but administration and dangerous commands, on their own keys and
# channels only; INFO (client libraries read the role/version) and the harmless CLIENT
# subcommands are given back. KEYS/FLUSHDB/FLUSHALL/CONFIG/DEBUG stay denied: with a shared
# keyspace, one app must not be able to empty or scan another's.
APP_RULES = "+@all -@admin -@dangerous +info +client|setname +client|getname +client|id"
# redis_exporter without key checks: only what its collectors call (oliver006/redis_exporter README).
EXPORTER_RULES = ("resetkeys resetchannels -@all +ping +info +config|get +slowlog|get +slowlog|len "
                  "+latency|latest +latency|histogram +memory|stats +memory|usage +select "
                  "+client|setname +client|list +client|info +cluster|info")
# Sentinel (redis.io, "ACL rules for Sentinel and Replicas").
SENTINEL_RULES = ("resetkeys allchannels -@all +multi +slaveof +ping +exec +subscribe "
                  "+config|rewrite +role +publish +info +client|setname +client|kill +script|kill")
HEALTHCHECK_RULES = "resetkeys resetchannels -@all +ping +info +quit"
BACKUP_RULES = "resetkeys resetchannels -@all +ping +role +info +bgsave +lastsave"

TLS_DIR = "/etc/redis/tls"


def app_secret(app: str) -> str:
    return f"redis_app_{app.replace('-', '_')}"


def key_prefix(app: str) -> str:
    """The key (and channel) prefix an app's ACL user may touch; apps must be configured with it."""
    return f"{app}:"


@dataclass(frozen=True)
class Layout:
    """Where things live on a host. Production uses the defaults (Debian's packaging); the
    loopback tests use other ports and directories with the same renderers."""

    redis_port: int = REDIS_PORT
    sentinel_port: int = SENTINEL_PORT
    conf_dir: str = "/etc/redis"
    data_dir: str = "/var/lib/redis"
    log_dir: str = "/var/log/redis"
    redis_pidfile: str = "/run/redis/redis-server.pid"
    sentinel_pidfile: str = "/run/sentinel/redis-sentinel.pid"
    supervised: bool = True  # systemd notify (Type=notify units)
    tls_dir: str = TLS_DIR  # ca.crt, redis.crt, redis.key (redis.tls)


PROD = Layout()


# --- topology -----------------------------------------------------------------------------------


def data_hosts(settings: Settings) -> tuple[Host, ...]:
    """Hosts that run redis-server: the first two Redis VMs when there are three or more."""
    hosts = settings.hosts.redis
    return hosts[:2] if len(hosts) >= 3 else hosts


def sentinel_hosts(settings: Settings) -> tuple[Host, ...]:
    return settings.hosts.redis


def initial_master(settings: Settings) -> Host:
    return settings.hosts.redis[0]


def sentinel_addresses(settings: Settings, layout: Layout = PROD) -> list[str]:
    return [f"{h.private_ip}:{layout.sentinel_port}" for h in sentinel_hosts(settings)]


def router_endpoint(settings: Settings) -> str:
    """host:port of the router's Redis listener (first edge VM, or the router Service in K3s)."""
    return router_render.endpoint(settings, ROUTER_PORT)


def _binds(host: Host) -> str:
    """The private address, plus loopback for the local tools (unless the address is loopback)."""
    if host.private_ip.startswith("127."):
        return host.private_ip
    return f"{host.private_ip} 127.0.0.1"


def cli_tls_args(settings: Settings, layout: Layout = PROD) -> str:
    """redis-cli options the host scripts add to reach Redis/Sentinel."""
    return f"--tls --cacert {layout.tls_dir}/ca.crt" if settings.redis.tls else ""


def _tls_lines(settings: Settings, port: int, layout: Layout) -> list[str]:
    if not settings.redis.tls:
        return [f"port {port}"]
    return [
        "# TLS only (redis.tls): no plaintext listener.",
        "port 0",
        f"tls-port {port}",
        f"tls-cert-file {layout.tls_dir}/redis.crt",
        f"tls-key-file {layout.tls_dir}/redis.key",
        f"tls-ca-cert-file {layout.tls_dir}/ca.crt",
        "tls-auth-clients optional",
        "tls-replication yes",
        "tls-protocols \"TLSv1.2 TLSv1.3\"",
    ]


# --- redis.conf ---------------------------------------------------------------------------------


def acl_lines(settings: Settings) -> list[str]:
    lines = []
    for app in settings.redis.apps:
        p = key_prefix(app)
        lines.append(f"user {app} on >{{{{secret:{app_secret(app)}}}}} resetkeys resetchannels "
                     f"~{p}* &{p}* {APP_RULES}")
    lines += [
        f"user exporter on >{{{{secret:{SECRET_EXPORTER}}}}} {EXPORTER_RULES}",
        f"user sentinel on >{{{{secret:{SECRET_SENTINEL}}}}} {SENTINEL_RULES}",
        f"user healthcheck on >{{{{secret:{SECRET_HEALTHCHECK}}}}} {HEALTHCHECK_RULES}",
        f"user backup on >{{{{secret:{SECRET_BACKUP}}}}} {BACKUP_RULES}",
    ]
    return lines


def render_redis_conf(settings: Settings, host: Host, layout: Layout = PROD) -> str:
    """The complete redis.conf of one data node, without `replicaof`: the start-up guard adds
    that line before every start (components/redis/files/redis-guard.sh)."""
    r = settings.redis
    lines = [
        "# Rendered by the platform program (components/redis/render.py) for " + host.name + ".",
        "# Redis rewrites this file itself (CONFIG REWRITE after a Sentinel reconfiguration); the",
        "# platform step rewrites it only when its rendered version changes, and the start-up guard",
        "# sets `replicaof` from the Sentinels before every start.",
        f"bind {_binds(host)}",
        "protected-mode yes",
        *_tls_lines(settings, layout.redis_port, layout),
        "tcp-backlog 511",
        "tcp-keepalive 60",
        "timeout 0",
        "daemonize no",
        f"supervised {'systemd' if layout.supervised else 'no'}",
        f"pidfile {layout.redis_pidfile}",
        "loglevel notice",
        f"logfile {layout.log_dir}/redis-server.log",
        "databases 16",
        "",
        "# Persistence: AOF (fsync every second) for durability, RDB snapshots for backups.",
        f"dir {layout.data_dir}",
        "dbfilename dump.rdb",
        "save 3600 1 300 100 60 10000",
        "stop-writes-on-bgsave-error yes",
        "rdbcompression yes",
        "rdbchecksum yes",
        "appendonly yes",
        "appendfilename \"appendonly.aof\"",
        "appenddirname \"appendonlydir\"",
        "appendfsync everysec",
        "aof-use-rdb-preamble yes",
        "auto-aof-rewrite-percentage 100",
        "auto-aof-rewrite-min-size 64mb",
        "",
        "# Memory.",
        f"maxmemory {r.maxmemory_mb}mb",
        f"maxmemory-policy {r.maxmemory_policy}",
        "",
        "# Replication: announce the private address (NAT/containers must not leak another one).",
        f"replica-announce-ip {host.private_ip}",
        f"replica-announce-port {layout.redis_port}",
        "replica-read-only yes",
        "replica-serve-stale-data yes",
        "repl-diskless-sync yes",
        "replica-priority 100",
        "",
        "# Authentication: `default` is the administrator; replicas use it towards the master.",
        f"requirepass {{{{secret:{SECRET_ADMIN}}}}}",
        f"masterauth {{{{secret:{SECRET_ADMIN}}}}}",
        *acl_lines(settings),
        "acllog-max-len 128",
        "",
    ]
    return "\n".join(lines)


# --- sentinel.conf ------------------------------------------------------------------------------


def render_sentinel_conf(settings: Settings, host: Host, layout: Layout = PROD) -> str:
    """The base sentinel.conf. Sentinel rewrites the live file with its state (current master,
    epochs, known replicas and Sentinels, its id); the sentinel step keeps that state when it
    installs a changed base (components/redis/host/sentinel.sh)."""
    r = settings.redis
    name = r.master_name
    master = initial_master(settings)
    lines = [
        "# Rendered by the platform program (components/redis/render.py) for " + host.name + ".",
        "# Sentinel rewrites this file with its state; the platform step keeps that state.",
        f"bind {_binds(host)}",
        # Sentinel needs to be reached from the clients on the private address; the firewall
        # restricts who may (components/redis/ports.py).
        "protected-mode no",
        *_tls_lines(settings, layout.sentinel_port, layout),
        "daemonize no",
        f"supervised {'systemd' if layout.supervised else 'no'}",
        f"pidfile {layout.sentinel_pidfile}",
        "loglevel notice",
        f"logfile {layout.log_dir}/redis-sentinel.log",
        f"dir {layout.data_dir}",
        f"sentinel announce-ip {host.private_ip}",
        f"sentinel announce-port {layout.sentinel_port}",
        "sentinel resolve-hostnames no",
        "sentinel announce-hostnames no",
        "sentinel deny-scripts-reconfig yes",
        f"sentinel monitor {name} {master.private_ip} {layout.redis_port} {r.quorum}",
        f"sentinel auth-user {name} sentinel",
        f"sentinel auth-pass {name} {{{{secret:{SECRET_SENTINEL}}}}}",
        f"sentinel down-after-milliseconds {name} {r.down_after_ms}",
        f"sentinel failover-timeout {name} {r.failover_timeout_ms}",
        f"sentinel parallel-syncs {name} 1",
        f"sentinel master-reboot-down-after-period {name} 0",
        "",
    ]
    return "\n".join(lines)


# --- start-up guard -----------------------------------------------------------------------------


def guard_wait_seconds(settings: Settings) -> int:
    """How long the guard waits for a failover the Sentinels have begun while this node is the
    master they know (bounded: redis-server.service must still start within its timeout)."""
    return min(60, max(15, 3 * settings.redis.down_after_ms // 1000 + 5))


def render_guard_env(settings: Settings, host: Host, layout: Layout = PROD) -> str:
    master = initial_master(settings)
    values = {
        "MASTER_NAME": settings.redis.master_name,
        "SELF_IP": host.private_ip,
        "SELF_PORT": str(layout.redis_port),
        "INITIAL_MASTER": f"{master.private_ip}:{layout.redis_port}",
        "SENTINELS": " ".join(sentinel_addresses(settings, layout)),
        "REDIS_CONF": f"{layout.conf_dir}/redis.conf",
        "LOCAL_SENTINEL_CONF": f"{layout.conf_dir}/sentinel.conf",
        "QUERY_TIMEOUT": "2",
        "FAILOVER_WAIT": str(guard_wait_seconds(settings)),
        "CLI_TLS_ARGS": cli_tls_args(settings, layout),
    }
    head = "# Parameters of the Redis start-up guard (rendered by components/redis/render.py).\n"
    return head + "".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items())


def render_redis_dropin() -> str:
    return "\n".join([
        "# Rendered by the platform program (components/redis/render.py).",
        "[Service]",
        "# No stale master: ask the Sentinels who the master is and write `replicaof` before Redis",
        "# starts ('+': runs as root, outside the unit's sandbox, which forbids executing anything",
        "# but redis-server). A failing guard keeps Redis stopped rather than writable.",
        "ExecStartPre=+/usr/local/lib/platform-redis/redis-guard",
        "RestartSec=2",
        "TimeoutStartSec=180",
        "",
    ])


def render_sentinel_dropin() -> str:
    return "\n".join([
        "# Rendered by the platform program (components/redis/render.py).",
        "[Service]",
        "RestartSec=2",
        "",
    ])


def render_sysctl() -> str:
    return "\n".join([
        "# Rendered by the platform program (components/redis/render.py).",
        "# Redis forks for RDB snapshots and AOF rewrites; without overcommit a fork can fail.",
        "vm.overcommit_memory = 1",
        "",
    ])


def render_thp_unit() -> str:
    return "\n".join([
        "# Rendered by the platform program (components/redis/render.py).",
        "[Unit]",
        "Description=Disable transparent huge pages for Redis (latency, copy-on-write memory)",
        "Before=redis-server.service",
        "ConditionPathExists=/sys/kernel/mm/transparent_hugepage/enabled",
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        "# '-': read-only inside containers; Redis then only warns.",
        "ExecStart=-/bin/sh -c 'echo never > /sys/kernel/mm/transparent_hugepage/enabled'",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])


# --- redis_exporter -----------------------------------------------------------------------------


def _exporter_tls(settings: Settings, layout: Layout) -> str:
    return f" --tls-ca-cert-file={layout.tls_dir}/ca.crt" if settings.redis.tls else ""


def render_exporter_defaults(settings: Settings, host: Host, layout: Layout = PROD) -> str:
    """/etc/default/prometheus-redis-exporter (EnvironmentFile of the packaged unit)."""
    scheme = "rediss" if settings.redis.tls else "redis"
    args = (f"--redis.addr={scheme}://127.0.0.1:{layout.redis_port} --redis.user=exporter "
            f"--web.listen-address={host.private_ip}:{EXPORTER_PORT} --redis-only-metrics"
            + _exporter_tls(settings, layout))
    return (
        "# Rendered by the platform program (components/redis/render.py).\n"
        f'ARGS="{args}"\n'
        f"REDIS_PASSWORD={{{{secret:{SECRET_EXPORTER}}}}}\n"
    )


def render_sentinel_exporter_defaults(settings: Settings, host: Host, layout: Layout = PROD) -> str:
    scheme = "rediss" if settings.redis.tls else "redis"
    args = (f"--redis.addr={scheme}://127.0.0.1:{layout.sentinel_port} "
            f"--web.listen-address={host.private_ip}:{SENTINEL_EXPORTER_PORT} --redis-only-metrics"
            + _exporter_tls(settings, layout))
    return f'# Rendered by the platform program (components/redis/render.py).\nARGS="{args}"\n'


def render_sentinel_exporter_unit() -> str:
    return "\n".join([
        "# Rendered by the platform program (components/redis/render.py).",
        "[Unit]",
        "Description=Prometheus exporter for the local Redis Sentinel",
        "After=redis-sentinel.service",
        "",
        "[Service]",
        "User=prometheus",
        "EnvironmentFile=/etc/default/platform-redis-sentinel-exporter",
        "ExecStart=/usr/bin/prometheus-redis-exporter $ARGS",
        "Restart=on-failure",
        "RestartSec=5",
        "NoNewPrivileges=true",
        "ProtectSystem=strict",
        "ProtectHome=true",
        "PrivateTmp=true",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])


def scrape_targets(settings: Settings) -> dict[str, list[str]]:
    return {
        "redis": [f"{h.private_ip}:{EXPORTER_PORT}" for h in data_hosts(settings)],
        "sentinel": [f"{h.private_ip}:{SENTINEL_EXPORTER_PORT}" for h in sentinel_hosts(settings)],
    }


# --- backups ------------------------------------------------------------------------------------


def backup_prefix(settings: Settings) -> str:
    return f"redis/{settings.redis.master_name}/"


def render_s3cfg(settings: Settings) -> str:
    """s3cmd's configuration (Debian 12 / Ubuntu 22.04, 24.04 package `s3cmd`); path-style URLs."""
    u = urlsplit(settings.s3.endpoint)
    host = u.netloc
    ca = "/etc/redis/platform/s3-ca.pem" if settings.s3.ca_certificate else ""
    return "\n".join([
        "# Rendered by the platform program (components/redis/render.py).",
        "[default]",
        f"access_key = {{{{secret:{SECRET_S3_ACCESS}}}}}",
        f"secret_key = {{{{secret:{SECRET_S3_SECRET}}}}}",
        f"host_base = {host}",
        f"host_bucket = {host}",
        f"bucket_location = {settings.s3.region}",
        "use_https = True",
        "check_ssl_certificate = True",
        f"ca_certs_file = {ca}",
        "signature_v2 = False",
        "multipart_chunk_size_mb = 64",
        "",
    ])


def render_backup_env(settings: Settings, host: Host, layout: Layout = PROD) -> str:
    values = {
        "MASTER_NAME": settings.redis.master_name,
        "HOST_NAME": host.name,
        "REDIS_PORT": str(layout.redis_port),
        "DATA_DIR": layout.data_dir,
        "BUCKET": settings.s3.buckets.backups,
        "PREFIX": backup_prefix(settings),
        "RETENTION_DAYS": str(settings.redis.backup_retention_days),
        "BGSAVE_TIMEOUT": "900",
        "S3CFG": "/etc/redis/platform/s3cfg",
        "CLI_TLS_ARGS": cli_tls_args(settings, layout),
    }
    head = "# Parameters of the Redis backup/restore scripts (components/redis/render.py).\n"
    return head + "".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items())


def render_backup_units(settings: Settings) -> dict[str, str]:
    service = "\n".join([
        "# Rendered by the platform program (components/redis/render.py).",
        "[Unit]",
        "Description=Copy a fresh Redis RDB snapshot to the backup bucket (acts on the master only)",
        "After=redis-server.service network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        "ExecStart=/usr/local/lib/platform-redis/redis-backup",
        "TimeoutStartSec=3600",
        "Nice=10",
        "IOSchedulingClass=best-effort",
        "IOSchedulingPriority=7",
        "",
    ])
    timer = "\n".join([
        "# Rendered by the platform program (components/redis/render.py).",
        f"# redis.backup.schedule = {settings.redis.backup_schedule}",
        "[Unit]",
        "Description=Schedule of the Redis RDB backup",
        "",
        "[Timer]",
        f"OnCalendar={cron_to_oncalendar(settings.redis.backup_schedule)}",
        "Persistent=true",
        "RandomizedDelaySec=60",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ])
    return {"platform-redis-backup.service": service, "platform-redis-backup.timer": timer}


# --- router (HAProxy) ---------------------------------------------------------------------------


def router_section(settings: Settings) -> str:
    """HAProxy `listen redis` for clients that cannot speak Sentinel (Nextcloud).

    Each data node is checked with AUTH (ACL user `healthcheck`), PING and `INFO replication`
    expecting `role:master`. Two masters are never used at once: a one-entry stick table pins
    every connection to the master chosen first and keeps it pinned while that server stays up,
    so a former master that briefly reports `role:master` again (it should not: the start-up
    guard makes it a replica) gets no traffic; `rise 2` also delays it. When the pinned master
    stops being master, its sessions are shut down and new ones go to the new master.
    The password is a `{{secret:redis_healthcheck}}` placeholder: the router step must receive
    that secret (RedisSentinelCluster.router_secrets).
    """
    # redis.tls: TLS passes through the router end to end (like PgBouncer's); only the checks
    # speak TLS themselves. Clients verify the CA but not the name (the certificate names the node).
    ssl = f" check-ssl verify required ca-file {router_render.CA_FILE}" if settings.redis.tls else ""
    lines = [
        "# Redis master for clients without Sentinel support (components/redis/render.py).",
        "listen redis",
        f"    bind :{ROUTER_PORT}",
        "    mode tcp",
        "    timeout client 1h",
        "    timeout server 1h",
        "    timeout connect 2s",
        "    timeout check 2s",
        "    option clitcpka",
        "    option srvtcpka",
        "    option tcp-check",
        # No explicit `tcp-check connect`: the implicit one uses the server line (check-ssl with TLS).
        f'    tcp-check send "AUTH healthcheck {{{{secret:{SECRET_HEALTHCHECK}}}}}\\r\\n"',
        "    tcp-check expect string +OK",
        '    tcp-check send "PING\\r\\n"',
        "    tcp-check expect string +PONG",
        '    tcp-check send "INFO replication\\r\\n"',
        "    tcp-check expect string role:master",
        '    tcp-check send "QUIT\\r\\n"',
        "    tcp-check expect string +OK",
        "    stick-table type integer size 1",
        "    stick on int(1)",
        "    balance first",
        f"    default-server inter 500ms fastinter 250ms downinter 500ms rise 2 fall 2 "
        f"on-marked-down shutdown-sessions{ssl}",
    ]
    for h in data_hosts(settings):
        lines.append(f"    server {h.name} {h.private_ip}:{REDIS_PORT} check")
    return "\n".join(lines) + "\n"
