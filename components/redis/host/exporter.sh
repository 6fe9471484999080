#!/usr/bin/env bash
# RedisSentinelCluster: redis_exporter for the local redis-server (data nodes, port 9121, ACL
# user `exporter`) and one in Sentinel mode for the local Sentinel (every Redis VM, port 9122).
# Params: DATA_NODE (0/1). Files: sentinel-exporter.default, platform-redis-sentinel-exporter.service,
# redis-exporter.default (data nodes; with {{secret:redis_exporter}}).
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

ensure_packages prometheus-redis-exporter

if [ "$DATA_NODE" = 1 ]; then
  put redis-exporter.default /etc/default/prometheus-redis-exporter 0640 root:prometheus
  ensure_enabled prometheus-redis-exporter
  restart_if_changed prometheus-redis-exporter /etc/default/prometheus-redis-exporter
else
  # No redis-server here: the packaged unit would only listen on :9121 and fail its scrapes.
  if systemctl is-enabled --quiet prometheus-redis-exporter 2>/dev/null; then
    systemctl disable --quiet prometheus-redis-exporter
    changed "disabled prometheus-redis-exporter"
  fi
  if systemctl is-active --quiet prometheus-redis-exporter; then
    systemctl stop prometheus-redis-exporter
    changed "stopped prometheus-redis-exporter"
  fi
fi

put platform-redis-sentinel-exporter.service /etc/systemd/system/platform-redis-sentinel-exporter.service 0644 root:root
put sentinel-exporter.default /etc/default/platform-redis-sentinel-exporter 0644 root:root
if file_changed /etc/systemd/system/platform-redis-sentinel-exporter.service; then
  systemctl daemon-reload
fi
ensure_enabled platform-redis-sentinel-exporter
restart_if_changed platform-redis-sentinel-exporter /etc/systemd/system/platform-redis-sentinel-exporter.service \
  /etc/default/platform-redis-sentinel-exporter
