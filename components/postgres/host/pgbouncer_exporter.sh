#!/usr/bin/env bash
# prometheus-pgbouncer-exporter on a database VM: PgBouncer's admin console (SHOW STATS, POOLS,
# DATABASES, LISTS) as the stats user over PgBouncer's Unix socket; metrics on the private address.
# The package's unit runs it as postgres, bound to pgbouncer.service; a drop-in runs it through the
# launcher (pgbouncer_exporter.py: PgBouncer 1.8+ stats columns, reconnects) with a password file.
# Params: HOST_IP, PORT. Files: pgbouncer-exporter.conf, pgbouncer-exporter.pgpass,
# pgbouncer-exporter.unit, pgbouncer_exporter.py. Secrets: pg_monitoring_password.
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

UNIT=prometheus-pgbouncer-exporter
CONF=/etc/prometheus-pgbouncer-exporter.conf
PGPASS=/etc/prometheus-pgbouncer-exporter.pgpass
LAUNCHER=/usr/local/lib/platform-pgbouncer-exporter/pgbouncer-exporter
DROPIN=/etc/systemd/system/$UNIT.service.d/platform.conf

ensure_packages prometheus-pgbouncer-exporter
put pgbouncer_exporter.py "$LAUNCHER" 0755 root:root
put pgbouncer-exporter.conf "$CONF" 0644 root:root
# libpq ignores a password file that its user does not own or that others can read.
put pgbouncer-exporter.pgpass "$PGPASS" 0600 postgres:postgres
put pgbouncer-exporter.unit "$DROPIN" 0644 root:root
if file_changed "$DROPIN"; then
  systemctl daemon-reload
fi
ensure_enabled "$UNIT"
restart_if_changed "$UNIT" "$LAUNCHER" "$CONF" "$PGPASS" "$DROPIN"

# It connects (and dies on failure, then systemd retries every 5 s) before it serves metrics.
url="http://$HOST_IP:$PORT/metrics"
serves() { grep -q '^pgbouncer_databases ' <<<"$(curl -sf --max-time 3 "$url" || true)"; }
if ! wait_until 30 1 "PgBouncer metrics on $url" serves; then
  journalctl -u "$UNIT" -n 30 --no-pager >&2 || true
  die "$UNIT does not serve PgBouncer metrics on $url"
fi
