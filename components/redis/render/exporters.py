"""redis_exporter for the local redis-server and, in Sentinel mode, for the local Sentinel."""

from __future__ import annotations

from components.redis.names import EXPORTER_PORT, PROD, SECRET_EXPORTER, SENTINEL_EXPORTER_PORT, Layout
from components.settings import Host, Settings


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
