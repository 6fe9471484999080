"""mariadb-backup to the backup bucket: s3cmd's configuration, the scripts' parameters and the two
timers (full, incremental). Pure."""

from __future__ import annotations

import shlex

from components import s3cmd
from components.mariadb import names as n
from components.settings import Host, Settings
from components.systemd import scheduled_oneshot

HEADER = "# Rendered by the platform program (components/mariadb/render/backup.py); do not edit."
PLATFORM_DIR = "/etc/mysql/platform"
S3CFG = f"{PLATFORM_DIR}/s3cfg"
BACKUP_SCRIPT = "/usr/local/lib/platform-mariadb/mariadb-backup"
RESTORE_SCRIPT = "/usr/local/sbin/platform-mariadb-restore"


def render_s3cfg(settings: Settings) -> str:
    return s3cmd.render_s3cfg(settings, f"{PLATFORM_DIR}/s3-ca.pem", HEADER)


def render_backup_env(settings: Settings, host: Host) -> str:
    values = {
        "CLUSTER": settings.mariadb.cluster_name,
        "HOST_IP": host.private_ip,
        "NODES": " ".join(h.private_ip for h in n.data_hosts(settings)),
        "CHECK_PORT": str(n.CHECK_PORT),
        "SOCKET": n.SOCKET,
        "BUCKET": settings.s3.buckets.backups,
        "PREFIX": n.backup_prefix(settings),
        "RETENTION_DAYS": str(settings.mariadb.retention_days),
        "S3CFG": S3CFG,
    }
    return HEADER + "\n" + "".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items())


def render_backup_units(settings: Settings) -> dict[str, str]:
    m = settings.mariadb
    out: dict[str, str] = {}
    for mode, key, schedule, what in (("full", "mariadb.backup.fullSchedule", m.full_schedule, "full"),
                                      ("incr", "mariadb.backup.incrementalSchedule", m.incremental_schedule,
                                       "incremental")):
        service, timer = scheduled_oneshot(
            HEADER, f"A {what} MariaDB backup to the backup bucket (acts on the designated node only)",
            f"{BACKUP_SCRIPT} {mode}", key, schedule, after="mariadb.service",
            timer_description=f"Schedule of the {what} MariaDB backup")
        out[f"platform-mariadb-backup-{mode}.service"] = service
        out[f"platform-mariadb-backup-{mode}.timer"] = timer
    return out
