#!/usr/bin/env bash
# Rendered by the platform program (components/monitoring/files/journal-maintain.sh): the journals
# systemd-journal-remote receives have no size cap of their own. Vacuum them by age and to a share
# of their filesystem, and report when each VM last wrote (node_exporter textfile metrics).
set -euo pipefail
# shellcheck disable=SC1091
. /etc/default/platform-journal-maintain
[ -d "$JOURNAL_DIR" ] || exit 0
fs_mb=$(df -B1M --output=size "$JOURNAL_DIR" | tail -n 1 | tr -d ' ')
max_mb=$(( fs_mb * MAX_USE_PERCENT / 100 ))
journalctl --directory="$JOURNAL_DIR" --vacuum-time="${RETENTION_DAYS}d" --vacuum-size="${max_mb}M" >/dev/null 2>&1 || true
out=$(mktemp)
trap 'rm -f "$out"' EXIT
{
  echo "# HELP platform_journal_remote_last_write_timestamp_seconds When journal-remote last wrote this VM's journal."
  echo "# TYPE platform_journal_remote_last_write_timestamp_seconds gauge"
  echo "# HELP platform_journal_remote_bytes Disk used by the received journals."
  echo "# TYPE platform_journal_remote_bytes gauge"
  echo "platform_journal_remote_bytes $(du -sb "$JOURNAL_DIR" | cut -f1)"
} >"$out"
# SplitMode=host: remote-<peer address>.journal (and its rotated remote-<address>@....journal files);
# SOURCES maps each VM's address to its name, and a VM that never sent is reported as 0.
declare -A name_of=() newest=()
for pair in $SOURCES; do
  name_of[${pair%%=*}]=${pair#*=}
  newest[${pair#*=}]=0
done
for f in "$JOURNAL_DIR"/remote-*.journal; do
  [ -e "$f" ] || continue
  base=${f##*/remote-}
  source=${base%%@*}
  source=${source%.journal}
  source=${name_of[$source]:-$source}
  t=$(stat -c %Y "$f")
  if [ -z "${newest[$source]:-}" ] || [ "$t" -gt "${newest[$source]}" ]; then newest[$source]=$t; fi
done
for source in "${!newest[@]}"; do
  echo "platform_journal_remote_last_write_timestamp_seconds{source=\"$source\"} ${newest[$source]}" >>"$out"
done
install -d "$TEXTFILE_DIR"
install -m 0644 "$out" "$TEXTFILE_DIR/platform_journal_remote.prom.tmp"
mv -f "$TEXTFILE_DIR/platform_journal_remote.prom.tmp" "$TEXTFILE_DIR/platform_journal_remote.prom"
