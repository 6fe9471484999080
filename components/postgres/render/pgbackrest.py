"""pgBackRest: pgbackrest.conf (S3 repository), the backup schedule and its primary-only script."""

from __future__ import annotations

from urllib.parse import urlsplit

from components.plan import placeholder
from components.postgres.names import (
    BACKUP_SCRIPT,
    PG_PORT,
    PGBACKREST_CA,
    PGBACKREST_SPOOL,
    SECRET_CIPHER,
    SECRET_S3_ACCESS,
    SECRET_S3_SECRET,
    SOCKET_DIR,
    data_dir,
    stanza,
)
from components.settings import Settings


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
        f"repo1-s3-key={placeholder(SECRET_S3_ACCESS)}",
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


BACKUP_TEXTFILE = "/var/lib/prometheus/node-exporter/platform_pg_backup.prom"


def render_backup_script(settings: Settings) -> str:
    """`platform-pg-backup full|incr|diff`: one backup, only on the current primary; then (and with
    `metrics` alone) the newest backup of each type from `pgbackrest info` as node_exporter textfile
    metrics (`platform_pg_backup_last_success_timestamp_seconds{cluster,type}`): the repository is
    the truth, so a backup made by hand or on another node counts too."""
    st = stanza(settings)
    return f"""#!/bin/sh
# Rendered by the platform program: one pgBackRest backup, only on the current primary, then the
# newest backups as metrics (`metrics` alone refreshes only those).
set -eu
type=${{1:?usage: $0 full|incr|diff|metrics}}
metrics() {{
  out={BACKUP_TEXTFILE}
  [ -w "$out" ] || return 0  # created by the pgbackrest step, writable by postgres
  tmp=$(mktemp)
  pgbackrest --stanza={st} --output=json info 2>/dev/null | python3 -c '
import json, sys
newest = {{}}
for stanza in json.load(sys.stdin):
    for b in stanza.get("backup", []):
        t = b["timestamp"]["stop"]
        newest[b["type"]] = max(newest.get(b["type"], 0), t)
print("# HELP platform_pg_backup_last_success_timestamp_seconds Newest pgBackRest backup of each type.")
print("# TYPE platform_pg_backup_last_success_timestamp_seconds gauge")
for kind, t in sorted(newest.items()):
    labels = "cluster=%s,type=%s" % (json.dumps(sys.argv[1]), json.dumps(kind))
    print("platform_pg_backup_last_success_timestamp_seconds{{%s}} %d" % (labels, t))
' {settings.postgres.cluster_name} >"$tmp" && cat "$tmp" >"$out"
  rm -f "$tmp"
}}
if [ "$type" = metrics ]; then
  metrics
  exit 0
fi
in_recovery=$(psql -h {SOCKET_DIR} -p {PG_PORT} -XAtqc 'SELECT pg_is_in_recovery()' postgres 2>/dev/null \
  || echo unknown)
if [ "$in_recovery" != f ]; then
  logger -t platform-pg-backup "skipping $type backup: not the primary (pg_is_in_recovery=$in_recovery)"
  metrics
  exit 0
fi
flock -n /tmp/platform-pg-backup.lock pgbackrest --stanza={st} --type="$type" backup
metrics
"""
