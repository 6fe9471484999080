#!/usr/bin/env bash
# RedisSentinelCluster, data nodes: RDB backups to the backup bucket. Installs s3cmd and its
# configuration, the backup script (acts only where Redis is master), the restore script
# (`platform-redis-restore`: an RDB from the bucket into a scratch instance) and the timer.
# Files: s3cfg, backup.pass (secrets as placeholders), backup.env, redis-backup, redis-restore,
# platform-redis-backup.service, platform-redis-backup.timer, s3-ca.pem (when s3.caCertificate).
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

ensure_packages s3cmd redis-tools

install -d -m 0750 -o root -g redis /etc/redis/platform
put s3cfg /etc/redis/platform/s3cfg 0600 root:root
put backup.pass /etc/redis/platform/backup.pass 0600 root:root
put backup.env /etc/redis/platform/backup.env 0644 root:root
if [ -f "$STEP_DIR/files/s3-ca.pem" ]; then
  put s3-ca.pem /etc/redis/platform/s3-ca.pem 0644 root:root
fi
put redis-backup /usr/local/lib/platform-redis/redis-backup 0755 root:root
put redis-restore /usr/local/sbin/platform-redis-restore 0755 root:root
install_timer platform-redis-backup
