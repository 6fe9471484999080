#!/usr/bin/env bash
# platform-mariadb-restore TARGET_DIR [CHAIN]: a data directory from the backup bucket. Downloads a
# chain (the newest, or CHAIN) - its full backup and every incremental after it, in order - unpacks
# each (gunzip | mbstream), prepares the full one and applies the incrementals to it. TARGET_DIR must
# not exist; afterwards it is a data directory a mariadbd can start on (e.g. a scratch instance:
# `mariadbd --no-defaults --datadir=TARGET_DIR --socket=... --skip-networking --user=mysql`).
# Never touches the running server. Parameters: BACKUP_ENV (BUCKET, PREFIX, S3CFG).
set -euo pipefail

BACKUP_ENV=${BACKUP_ENV:-/etc/mysql/platform/backup.env}
# shellcheck source=/dev/null
. "$BACKUP_ENV"
say() { echo "mariadb-restore: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

target=${1:?usage: platform-mariadb-restore TARGET_DIR [CHAIN]}
chain=${2:-}
[ ! -e "$target" ] || die "$target exists; give a new directory"
if [ -z "$chain" ]; then
  chain=$(s3cmd -c "$S3CFG" ls "s3://$BUCKET/$PREFIX" | awk '$1 == "DIR" {print $2}' | sed -E 's#/$##; s#.*/##' | sort | tail -n1)
fi
[ -n "$chain" ] || die "no backup chain under s3://$BUCKET/$PREFIX"
objects=$(s3cmd -c "$S3CFG" ls "s3://$BUCKET/$PREFIX$chain/" | awk '{print $4}' | grep -E -- '-(full|incr)\.xb\.gz$' | sort)
full=$(printf '%s\n' "$objects" | grep -- '-full\.xb\.gz$' | head -n1)
[ -n "$full" ] || die "chain $chain has no full backup"

work=$(mktemp -d /var/tmp/mariadb-restore.XXXXXX)
trap 'rm -rf -- "$work"' EXIT
n=0
for url in $objects; do
  n=$((n + 1))
  dir="$work/$(printf '%03d' "$n")"
  mkdir -p "$dir"
  s3cmd -c "$S3CFG" --no-progress get "$url" "$dir.xb.gz" >/dev/null || die "download of $url failed"
  gunzip -c "$dir.xb.gz" | mbstream -x -C "$dir" || die "unpacking $url failed"
  rm -f "$dir.xb.gz"
done
base="$work/001"
mariadb-backup --prepare --target-dir="$base" >"$work/prepare.log" 2>&1 || { tail -n 20 "$work/prepare.log" >&2; die "prepare of the full backup failed"; }
for dir in "$work"/0*; do
  if [ ! -d "$dir" ] || [ "$dir" = "$base" ]; then continue; fi
  mariadb-backup --prepare --target-dir="$base" --incremental-dir="$dir" >"$work/prepare.log" 2>&1 \
    || { tail -n 20 "$work/prepare.log" >&2; die "applying $(basename "$dir") failed"; }
done
mkdir -p "$(dirname "$target")"
mv "$base" "$target"
say "chain $chain: $n backup(s) restored into $target"
echo "$target"
