#!/usr/bin/env bash
# platform-redis-backup: copy a fresh RDB snapshot of the master to the backup bucket.
# Runs from platform-redis-backup.timer on every data node and acts only where ROLE is master:
# BGSAVE, wait (bounded) for it, check the file, upload it to s3://BUCKET/PREFIX<time>-<host>.rdb,
# then delete copies older than RETENTION_DAYS (the newest is always kept).
# Parameters: BACKUP_ENV (default /etc/redis/platform/backup.env); password of ACL user `backup`
# in /etc/redis/platform/backup.pass; s3cmd configuration in S3CFG.
set -euo pipefail

BACKUP_ENV=${BACKUP_ENV:-/etc/redis/platform/backup.env}
# shellcheck source=/dev/null
. "$BACKUP_ENV"
PASS_FILE=${PASS_FILE:-/etc/redis/platform/backup.pass}
STATE_DIR=${STATE_DIR:-/var/lib/platform-redis}
TEXTFILE_DIR=${TEXTFILE_DIR:-/var/lib/prometheus/node-exporter}

say() { echo "redis-backup: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

REDISCLI_AUTH=$(cat "$PASS_FILE")
export REDISCLI_AUTH
cli() {
  # shellcheck disable=SC2086  # CLI_TLS_ARGS is a list of options
  timeout 10 redis-cli $CLI_TLS_ARGS --no-auth-warning --user backup -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}
info_field() { cli INFO persistence | tr -d '\r' | sed -n "s/^$1://p"; }

role=$(cli ROLE | awk 'NR == 1')
if [ "$role" != master ]; then
  say "this node is '$role', not the master: nothing to do"
  exit 0
fi

# LASTSAVE has a resolution of one second: start the snapshot in a later second than `before`.
before=$(cli LASTSAVE)
sleep 1.1
reply=$(cli BGSAVE SCHEDULE)
case "$reply" in
  "Background saving started"|"Background saving scheduled") ;;
  *) die "BGSAVE refused: $reply" ;;
esac
deadline=$((SECONDS + BGSAVE_TIMEOUT))
while :; do
  [ "$(cli LASTSAVE)" -gt "$before" ] && [ "$(info_field rdb_bgsave_in_progress)" = 0 ] && break
  [ "$SECONDS" -lt "$deadline" ] || die "BGSAVE did not finish within ${BGSAVE_TIMEOUT}s"
  sleep 1
done
[ "$(info_field rdb_last_bgsave_status)" = ok ] || die "the last BGSAVE failed (see the Redis log)"

work=$(mktemp -d /var/tmp/redis-backup.XXXXXX)
trap 'rm -rf -- "$work"' EXIT
stamp=$(date -u +%Y%m%dT%H%M%SZ)
file="$work/$stamp-$HOST_NAME.rdb"
# BGSAVE replaces dump.rdb by rename, so this copy is one consistent snapshot.
cp "$DATA_DIR/dump.rdb" "$file"
redis-check-rdb "$file" >"$work/check.log" 2>&1 || { cat "$work/check.log" >&2; die "the snapshot does not pass redis-check-rdb"; }
size=$(stat -c %s "$file")
key="$PREFIX$stamp-$HOST_NAME.rdb"
s3cmd -c "$S3CFG" --no-progress put "$file" "s3://$BUCKET/$key" >/dev/null || die "upload to s3://$BUCKET/$key failed"
say "uploaded s3://$BUCKET/$key ($size bytes)"

# Retention: objects under PREFIX older than RETENTION_DAYS, never the newest.
cutoff=$(date -u -d "-$RETENTION_DAYS days" +%s)
listing=$(s3cmd -c "$S3CFG" ls "s3://$BUCKET/$PREFIX") || die "listing s3://$BUCKET/$PREFIX failed"
newest=$(printf '%s\n' "$listing" | awk '$4 ~ /\.rdb$/ {print $4}' | sort | tail -n1)
deleted=0
while read -r day time _ url; do
  if [ -z "${url:-}" ] || [ "$url" = "$newest" ]; then continue; fi
  when=$(date -u -d "$day $time" +%s 2>/dev/null) || continue
  if [ "$when" -lt "$cutoff" ]; then
    s3cmd -c "$S3CFG" del "$url" >/dev/null || die "deleting $url failed"
    deleted=$((deleted + 1))
  fi
done <<<"$listing"
[ "$deleted" -eq 0 ] || say "deleted $deleted cop(y/ies) older than $RETENTION_DAYS days"

now=$(date -u +%s)
mkdir -p "$STATE_DIR"
printf 'time=%s\nkey=s3://%s/%s\nbytes=%s\n' "$now" "$BUCKET" "$key" "$size" >"$STATE_DIR/last-backup"
if [ -d "$TEXTFILE_DIR" ]; then
  prom="$TEXTFILE_DIR/platform_redis_backup.prom"
  printf '# HELP platform_redis_backup_last_success_timestamp_seconds Last RDB copied to the backup bucket.\n# TYPE platform_redis_backup_last_success_timestamp_seconds gauge\nplatform_redis_backup_last_success_timestamp_seconds{master_name="%s"} %s\n' \
    "$MASTER_NAME" "$now" >"$prom.tmp" && mv -f "$prom.tmp" "$prom"
fi
echo "s3://$BUCKET/$key"
