#!/usr/bin/env bash
# platform-mariadb-backup MODE: a mariadb-backup of this node to the backup bucket, MODE full or incr.
# Runs from its timers on every database VM and acts only on the designated node: the first one,
# in inventory order, whose health check answers 200 (writable; with Galera Synced in the Primary
# component), so one node backs up and a failed node's duty moves to the next. A chain is a full
# backup and the incrementals after it, each streamed (xbstream, gzip) to
#   s3://BUCKET/PREFIX<chain>/<time>-<mode>.xb.gz
# An incremental continues this node's chain from its last LSN; without one (first run, the duty
# moved here) it takes a full backup instead. Chains whose full backup is older than RETENTION_DAYS
# are deleted, never the newest. The time of the last success goes to node_exporter's textfile.
# Parameters: BACKUP_ENV (default /etc/mysql/platform/backup.env): CLUSTER, HOST_IP, NODES (every
# data node's address, in order), CHECK_PORT, SOCKET, BUCKET, PREFIX, RETENTION_DAYS, S3CFG.
set -euo pipefail

BACKUP_ENV=${BACKUP_ENV:-/etc/mysql/platform/backup.env}
# shellcheck source=/dev/null
. "$BACKUP_ENV"
STATE_DIR=${STATE_DIR:-/var/lib/platform-mariadb}
TEXTFILE_DIR=${TEXTFILE_DIR:-/var/lib/prometheus/node-exporter}
MODE=${1:-full}

say() { echo "mariadb-backup: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }
case "$MODE" in full|incr) ;; *) die "MODE is full or incr, not '$MODE'" ;; esac

designated=""
for ip in $NODES; do
  if curl -fsS --max-time 3 -o /dev/null "http://$ip:$CHECK_PORT/"; then designated=$ip; break; fi
done
if [ "$designated" != "$HOST_IP" ]; then
  say "the designated node is ${designated:-none (no node answers its health check)}, not this one: nothing to do"
  exit 0
fi

chain_file=$STATE_DIR/backup-chain
lsn_file=$STATE_DIR/backup-lsn
chain=$(cat "$chain_file" 2>/dev/null || true)
last_lsn=$(cat "$lsn_file" 2>/dev/null || true)
if [ "$MODE" = incr ] && { [ -z "$chain" ] || [ -z "$last_lsn" ] \
    || ! s3cmd -c "$S3CFG" ls "s3://$BUCKET/$PREFIX$chain/" | grep -q -- '-full\.xb\.gz$'; }; then
  say "no chain of this node to continue: taking a full backup instead"
  MODE=full
fi

stamp=$(date -u +%Y%m%dT%H%M%SZ)
[ "$MODE" = full ] && chain=$stamp
work=$(mktemp -d /var/tmp/mariadb-backup.XXXXXX)
trap 'rm -rf -- "$work"' EXIT
mkdir -p "$work/lsn" "$work/tmp"
args=(--socket="$SOCKET" --backup --stream=xbstream --extra-lsndir="$work/lsn" --target-dir="$work/tmp")
[ "$MODE" = incr ] && args+=(--incremental-lsn="$last_lsn")
file="$work/$stamp-$MODE.xb.gz"
# Logs in as root over the socket (unix_socket). pipefail: a failed backup fails the pipeline.
if ! mariadb-backup "${args[@]}" 2>"$work/backup.log" | gzip -1 >"$file"; then
  tail -n 20 "$work/backup.log" >&2
  die "mariadb-backup failed"
fi
grep -q "completed OK" "$work/backup.log" || { tail -n 20 "$work/backup.log" >&2; die "mariadb-backup did not complete"; }
to_lsn=$(sed -nE 's/^to_lsn = ([0-9]+)$/\1/p' "$work/lsn/xtrabackup_checkpoints")
[ -n "$to_lsn" ] || die "no to_lsn in xtrabackup_checkpoints"
size=$(stat -c %s "$file")
key="$PREFIX$chain/$stamp-$MODE.xb.gz"
s3cmd -c "$S3CFG" --no-progress put "$file" "s3://$BUCKET/$key" >/dev/null || die "upload to s3://$BUCKET/$key failed"
install -d -m 0700 "$STATE_DIR"
printf '%s\n' "$chain" >"$chain_file"
printf '%s\n' "$to_lsn" >"$lsn_file"
say "uploaded s3://$BUCKET/$key ($size bytes, to_lsn $to_lsn)"

# Retention: whole chains, by the time of their full backup (the chain's name); never the newest.
cutoff=$(date -u -d "-$RETENTION_DAYS days" +%Y%m%dT%H%M%SZ)
chains=$(s3cmd -c "$S3CFG" ls "s3://$BUCKET/$PREFIX" | awk '$1 == "DIR" {print $2}' | sed -E 's#/$##; s#.*/##' | sort)
newest=$(printf '%s\n' "$chains" | tail -n1)
for c in $chains; do
  if [ "$c" != "$newest" ] && [[ "$c" < "$cutoff" ]]; then
    s3cmd -c "$S3CFG" del --recursive "s3://$BUCKET/$PREFIX$c/" >/dev/null || die "deleting chain $c failed"
    say "deleted chain $c (older than $RETENTION_DAYS days)"
  fi
done

now=$(date -u +%s)
if [ -d "$TEXTFILE_DIR" ]; then
  prom="$TEXTFILE_DIR/platform_mariadb_backup_$MODE.prom"  # one file per type: both stay
  printf '# HELP platform_mariadb_backup_last_success_timestamp_seconds Last MariaDB backup copied to the backup bucket.\n# TYPE platform_mariadb_backup_last_success_timestamp_seconds gauge\nplatform_mariadb_backup_last_success_timestamp_seconds{cluster="%s",type="%s"} %s\n' \
    "$CLUSTER" "$MODE" "$now" >"$prom.tmp" && mv -f "$prom.tmp" "$prom"
fi
echo "s3://$BUCKET/$key"
