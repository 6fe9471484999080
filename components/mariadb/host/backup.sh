#!/usr/bin/env bash
# MariadbCluster, database VM: backups to the bucket. Installs s3cmd and its configuration, the
# backup script (acts only on the designated node), the restore script (`platform-mariadb-restore`:
# a chain from the bucket into a new data directory) and the full and incremental timers.
# Files: s3cfg (secrets as placeholders), backup.env, mariadb-backup, mariadb-restore, the four
# platform-mariadb-backup-{full,incr}.{service,timer}, s3-ca.pem (when s3.caCertificate).
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

ensure_packages s3cmd mariadb-backup curl
install -d -m 0750 -o root -g root /etc/mysql/platform
put s3cfg /etc/mysql/platform/s3cfg 0600 root:root
put backup.env /etc/mysql/platform/backup.env 0644 root:root
if [ -f "$STEP_DIR/files/s3-ca.pem" ]; then
  put s3-ca.pem /etc/mysql/platform/s3-ca.pem 0644 root:root
fi
put mariadb-backup /usr/local/lib/platform-mariadb/mariadb-backup 0755 root:root
put mariadb-restore /usr/local/sbin/platform-mariadb-restore 0755 root:root
for mode in full incr; do install_timer "platform-mariadb-backup-$mode"; done
