#!/usr/bin/env bash
# platform-redis-restore: restore an RDB from the backup bucket into a scratch redis-server on
# 127.0.0.1 and print its key counts. Never touches the running Redis.
#
#   platform-redis-restore [--port N] [--key OBJECT|latest] [--keep]
#
# --key: an object key below the bucket (or s3:// URL); default the newest copy under PREFIX.
# --keep: leave the scratch server running (its pid and directory are printed); default: stop it.
# Output: progress on stderr; one JSON line on stdout:
#   {"object": "s3://...", "port": N, "keys": {"db0": 123}, "keys_total": 123, "pid": P|null, "dir": "..."}
set -euo pipefail

BACKUP_ENV=${BACKUP_ENV:-/etc/redis/platform/backup.env}
# shellcheck source=/dev/null
. "$BACKUP_ENV"
port=6390
key=latest
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift 2 ;;
    --key) key=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--port N] [--key OBJECT|latest] [--keep]" >&2; exit 2 ;;
  esac
done

say() { echo "redis-restore: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

if [ "$key" = latest ]; then
  url=$(s3cmd -c "$S3CFG" ls "s3://$BUCKET/$PREFIX" | awk '$4 ~ /\.rdb$/ {print $4}' | sort | tail -n1)
  [ -n "$url" ] || die "no RDB under s3://$BUCKET/$PREFIX"
elif [[ $key == s3://* ]]; then
  url=$key
else
  url="s3://$BUCKET/$key"
fi

dir=$(mktemp -d /var/tmp/redis-restore.XXXXXX)
pid=""
cleanup() {
  if [ "$keep" = 0 ]; then
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf -- "$dir"
  fi
}
trap cleanup EXIT
s3cmd -c "$S3CFG" --no-progress get "$url" "$dir/dump.rdb" >/dev/null || die "download of $url failed"
redis-check-rdb "$dir/dump.rdb" >"$dir/check.log" 2>&1 || { cat "$dir/check.log" >&2; die "$url does not pass redis-check-rdb"; }
say "downloaded $url ($(stat -c %s "$dir/dump.rdb") bytes)"

run_as=()
if [ "$(id -u)" = 0 ] && id redis >/dev/null 2>&1; then
  chown -R redis:redis "$dir"
  run_as=(runuser -u redis --)
fi
"${run_as[@]}" redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes --dir "$dir" \
  --dbfilename dump.rdb --appendonly no --save "" --daemonize no --logfile "$dir/redis.log" \
  --pidfile "$dir/redis.pid" </dev/null >/dev/null 2>&1 &
pid=$!

cli() { timeout 10 redis-cli -h 127.0.0.1 -p "$port" "$@"; }
for _ in $(seq 1 300); do
  kill -0 "$pid" 2>/dev/null || die "the scratch redis-server exited (see $dir/redis.log): $(tail -n 5 "$dir/redis.log" 2>/dev/null)"
  [ "$(cli PING 2>/dev/null)" = PONG ] && break
  sleep 0.2
done
[ "$(cli PING 2>/dev/null)" = PONG ] || die "the scratch redis-server did not load the RDB in time"

keyspace=$(cli INFO keyspace | tr -d '\r' | sed -n 's/^\(db[0-9]*\):keys=\([0-9]*\),.*/\1 \2/p')
total=0
json_keys=""
while read -r db n; do
  [ -n "${db:-}" ] || continue
  say "$db: $n keys"
  total=$((total + n))
  json_keys="$json_keys${json_keys:+, }\"$db\": $n"
done <<<"$keyspace"
say "total: $total keys on 127.0.0.1:$port"
if [ "$keep" = 1 ]; then
  say "scratch server kept running: pid $pid, directory $dir (stop it with: kill $pid; rm -rf $dir)"
  printf '{"object": "%s", "port": %s, "keys": {%s}, "keys_total": %s, "pid": %s, "dir": "%s"}\n' \
    "$url" "$port" "$json_keys" "$total" "$pid" "$dir"
else
  printf '{"object": "%s", "port": %s, "keys": {%s}, "keys_total": %s, "pid": null, "dir": null}\n' \
    "$url" "$port" "$json_keys" "$total"
fi
