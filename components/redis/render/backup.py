"""RDB copies to S3: s3cmd's configuration, the backup/restore parameters and the timer."""

from __future__ import annotations

import shlex

from components import s3cmd
from components.redis.names import PROD, Layout, backup_prefix, cli_tls_args
from components.settings import Host, Settings
from components.systemd import scheduled_oneshot


def render_s3cfg(settings: Settings) -> str:
    return s3cmd.render_s3cfg(settings, "/etc/redis/platform/s3-ca.pem",
                              "# Rendered by the platform program (components/redis/render.py).")


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
    service, timer = scheduled_oneshot(
        "# Rendered by the platform program (components/redis/render.py).",
        "Copy a fresh Redis RDB snapshot to the backup bucket (acts on the master only)",
        "/usr/local/lib/platform-redis/redis-backup", "redis.backup.schedule", settings.redis.backup_schedule,
        after="redis-server.service", timer_description="Schedule of the Redis RDB backup")
    return {"platform-redis-backup.service": service, "platform-redis-backup.timer": timer}
