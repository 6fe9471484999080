"""redis-server on the data nodes: redis.conf with its ACL users, the start-up guard's parameters
and drop-in, and the kernel settings Redis wants.
"""

from __future__ import annotations

import shlex

from components.redis.names import (
    PROD,
    SECRET_ADMIN,
    SECRET_BACKUP,
    SECRET_EXPORTER,
    SECRET_HEALTHCHECK,
    SECRET_SENTINEL,
    Layout,
    app_secret,
    cli_tls_args,
    initial_master,
    key_prefix,
    sentinel_addresses,
)
from components.redis.render.common import _binds, _tls_lines
from components.settings import Host, Settings

# ACL rules. Apps: everything but administration and dangerous commands, on their own keys and
# channels only; INFO (client libraries read the role/version), ROLE (Predis, Mautic's client,
# checks that the master Sentinel named is one before it uses it: SentinelReplication::
# assertConnectionRole) and the harmless CLIENT subcommands are given back. KEYS/FLUSHDB/
# FLUSHALL/CONFIG/DEBUG stay denied: with a shared keyspace, one app must not be able to empty or
# scan another's (but see APP_EXTRA_RULES).
APP_RULES = "+@all -@admin -@dangerous +info +role +client|setname +client|getname +client|id"
# redis_exporter without key checks: only what its collectors call (oliver006/redis_exporter README).
EXPORTER_RULES = ("resetkeys resetchannels -@all +ping +info +config|get +slowlog|get +slowlog|len "
                  "+latency|latest +latency|histogram +memory|stats +memory|usage +select "
                  "+client|setname +client|list +client|info +cluster|info")

# Sentinel (redis.io, "ACL rules for Sentinel and Replicas").
SENTINEL_RULES = ("resetkeys allchannels -@all +multi +slaveof +ping +exec +subscribe "
                  "+config|rewrite +role +publish +info +client|setname +client|kill +script|kill")

HEALTHCHECK_RULES = "resetkeys resetchannels -@all +ping +info +quit"
BACKUP_RULES = "resetkeys resetchannels -@all +ping +role +info +bgsave +lastsave"


# Per app, commands given back beyond APP_RULES. Nextcloud's cache clear() (run by upgrades and
# `occ maintenance:repair`) lists its keys with KEYS <prefix>* (lib/private/Memcache/Redis.php);
# KEYS is not limited by key patterns, so this shows Nextcloud the other apps' key names (not values).
APP_EXTRA_RULES = {"nextcloud": "+keys"}


def acl_lines(settings: Settings) -> list[str]:
    lines = []
    for app in settings.redis.apps:
        p = key_prefix(app)
        extra = f" {APP_EXTRA_RULES[app]}" if app in APP_EXTRA_RULES else ""
        lines.append(f"user {app} on >{{{{secret:{app_secret(app)}}}}} resetkeys resetchannels "
                     f"~{p}* &{p}* {APP_RULES}{extra}")
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
