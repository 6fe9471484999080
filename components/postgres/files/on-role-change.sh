#!/usr/bin/env bash
# Patroni's on_role_change callback (arguments: ACTION ROLE CLUSTER; run as postgres, in the
# background). On a promotion it moves the new primary's WAL on by two segments. Why: the old
# primary may have switched to a new segment (archive_timeout) that never reached the replica
# before it died or stalled. Rejoining, it then asks the new primary for WAL from that segment:
# its walreceiver waits until the new primary gets there, a fast shutdown before pg_rewind waits
# for the walreceiver, and the rewound copy is not consistent before the new primary's WAL passes
# the old end. On a quiet new primary that took until its own archive_timeout (measured: rejoined
# 116 s after a stalled leader resumed). Two switches, each after a tiny WAL record (a switch in an
# empty segment does nothing), put the new primary past any such segment at once.
set -euo pipefail

role=${2:-}
case "$role" in
  master | primary) ;;
  *) exit 0 ;;
esac

q() { psql -h /var/run/postgresql -d postgres -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
# Patroni calls this right after `pg_ctl promote -W`: wait (bounded) until the promotion is done.
deadline=$((SECONDS + 60))
until [ "$(q 'SELECT pg_is_in_recovery()' 2>/dev/null || true)" = "f" ]; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    logger -t platform-pg-on-role-change "still in recovery after 60 s; WAL not switched"
    exit 0
  fi
  sleep 0.5
done
for _ in 1 2; do
  q "SELECT pg_logical_emit_message(false, 'platform', 'promoted')" >/dev/null
  q "SELECT pg_switch_wal()" >/dev/null
done
logger -t platform-pg-on-role-change "promoted: WAL switched twice, now at $(q 'SELECT pg_current_wal_lsn()')"
