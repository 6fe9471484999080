"""RDB copies to S3: s3cmd's configuration, the backup/restore parameters and the timer."""

from __future__ import annotations

import shlex
from urllib.parse import urlsplit

from components.cron import cron_to_oncalendar
from components.redis.names import PROD, SECRET_S3_ACCESS, SECRET_S3_SECRET, Layout, backup_prefix, cli_tls_args
from components.settings import Host, Settings


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
