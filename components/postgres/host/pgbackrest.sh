#!/usr/bin/env bash
# pgBackRest on a database VM: the backup schedule (every node; it acts only on the primary), and
# on the primary the stanza (created once), an archive check and a first full backup.
# Params: STANZA. Files: platform-pg-backup, pgbackrest.cron; pgbackrest.conf and s3-ca.crt only as
# inputs (the postgres step installs them): a changed repository re-runs the stanza and check here.
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

ensure_packages pgbackrest cron
put platform-pg-backup /usr/local/sbin/platform-pg-backup 0755 root:root
put pgbackrest.cron /etc/cron.d/platform-pgbackrest 0644 root:root
ensure_enabled cron
# The backup script reports the newest backups here (node_exporter's textfile collector); it runs
# as postgres, so the file is postgres's.
textfile=/var/lib/prometheus/node-exporter/platform_pg_backup.prom
install -d -m 0755 /var/lib/prometheus/node-exporter
[ -e "$textfile" ] || install -m 0644 -o postgres -g postgres /dev/null "$textfile"

as_pg() { runuser -u postgres -- "$@"; }
in_recovery=$(as_pg psql -h /var/run/postgresql -XAtqc 'SELECT pg_is_in_recovery()' postgres)
if [ "$in_recovery" != f ]; then
  log "replica: the stanza and backups are handled on the primary"
  exit 0
fi

info=$(as_pg pgbackrest --stanza="$STANZA" --output=json info 2>/dev/null || true)
if ! grep -q '"status":{"code":0' <<<"$info" && ! grep -q '"status":{"code":2' <<<"$info"; then
  # Missing stanza (code 1): create it. Online, since PostgreSQL runs here; --no-online is only
  # for a stopped cluster, which this step never sees.
  # The async archiver may hold the archive lock for a moment: retry, bounded.
  retry 10 3 as_pg pgbackrest --stanza="$STANZA" --log-level-console=warn stanza-create
  changed "created stanza $STANZA"
fi
retry 10 3 as_pg pgbackrest --stanza="$STANZA" --log-level-console=warn check
if ! grep -q '"label"' <<<"$(as_pg pgbackrest --stanza="$STANZA" --output=json info)"; then
  retry 5 5 as_pg pgbackrest --stanza="$STANZA" --type=full --log-level-console=warn backup
  changed "first full backup"
fi
as_pg /usr/local/sbin/platform-pg-backup metrics
