#!/usr/bin/env bash
# MariadbCluster, database VM: prometheus-mysqld-exporter on the private address, logging in over
# the local socket as platform_exporter (created by the mariadb step). Restarted when its
# defaults or login changed.
# Files: exporter.default, exporter.cnf (placeholder).
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

ensure_packages prometheus-mysqld-exporter
put exporter.default /etc/default/prometheus-mysqld-exporter 0644 root:root
put exporter.cnf /etc/mysql/platform-exporter.cnf 0640 root:prometheus
restart=0
if file_changed /etc/default/prometheus-mysqld-exporter /etc/mysql/platform-exporter.cnf; then restart=1; fi
ensure_service prometheus-mysqld-exporter.service "$restart"
