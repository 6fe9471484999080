"""Sentinel on every Redis VM: the base sentinel.conf and its drop-in."""

from __future__ import annotations

from components.redis.names import PROD, SECRET_SENTINEL, Layout, initial_master
from components.redis.render.common import _binds, _tls_lines
from components.settings import Host, Settings


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


def render_sentinel_dropin() -> str:
    return "\n".join([
        "# Rendered by the platform program (components/redis/render.py).",
        "[Service]",
        "RestartSec=2",
        "",
    ])
