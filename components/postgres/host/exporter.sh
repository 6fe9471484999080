#!/usr/bin/env bash
# postgres_exporter on a database VM, as the pg_monitor role, on the private address.
# Files: exporter.default. Secrets: pg_monitoring_password.
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

ensure_packages prometheus-postgres-exporter
put exporter.default /etc/default/prometheus-postgres-exporter 0640 root:prometheus
ensure_enabled prometheus-postgres-exporter
restart_if_changed prometheus-postgres-exporter /etc/default/prometheus-postgres-exporter
