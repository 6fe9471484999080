#!/usr/bin/env bash
# MonitoringHost: Prometheus (its file_sd targets and one rule file per component, both from the
# components' contracts), the blackbox exporter and the STARTTLS certificate probe.
# Params: MON_IP, PROMETHEUS_PORT, RETENTION_DISK_PERCENT. Files: prometheus.yml, prometheus.default,
# sd-<job>.json, rules-<component>.yml, blackbox.yml, blackbox.default, tls-probe, tls-probe.targets,
# platform-tls-probe.{service,timer}, ca.crt, client.crt. Secrets: host_key.
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

ensure_packages prometheus prometheus-blackbox-exporter openssl curl

TLS=/etc/prometheus/tls
install -d -m 0750 -o root -g prometheus "$TLS"
put ca.crt "$TLS/ca.crt" 0644 root:root
put client.crt "$TLS/client.crt" 0644 root:root
install_secret host_key "$TLS/client.key" 0640 root:prometheus

# Rule files: each checked by promtool before it is installed; Prometheus reads them on reload.
for f in "$STEP_DIR"/files/rules-*.yml; do
  promtool check rules "$f" >"$STEP_DIR/rules.log" 2>&1 || { cat "$STEP_DIR/rules.log" >&2; die "promtool rejected ${f##*/}"; }
done
sync_dir rules- /etc/prometheus/rules 0644 root:root
# Targets: file_sd files are watched by Prometheus; a job that is no longer rendered is removed.
sync_dir sd- /etc/prometheus/file_sd 0644 root:root

# The configuration is checked (with the installed rules) before it is installed and loaded.
staged="$STEP_DIR/prometheus.yml"
bundled prometheus.yml >"$staged"
promtool check config --syntax-only "$staged" >"$STEP_DIR/check.log" 2>&1 \
  || { cat "$STEP_DIR/check.log" >&2; die "promtool rejected prometheus.yml"; }
put_content "$staged" /etc/prometheus/prometheus.yml 0644 root:root
promtool check config /etc/prometheus/prometheus.yml >"$STEP_DIR/check.log" 2>&1 \
  || { cat "$STEP_DIR/check.log" >&2; die "promtool check config failed on the installed configuration"; }

# Size-based retention: a share of the filesystem that holds the TSDB (it may grow or shrink
# with the disk; the next apply follows).
install -d -m 0755 -o prometheus -g prometheus /var/lib/prometheus
fs_mb=$(( $(df -B1M --output=size /var/lib/prometheus | tail -n 1 | tr -d ' ') ))
retention_mb=$(( fs_mb * RETENTION_DISK_PERCENT / 100 ))
defaults="$STEP_DIR/prometheus.default"
bundled prometheus.default | sed "s/__RETENTION_SIZE__/${retention_mb}MB/" >"$defaults"
put_content "$defaults" /etc/default/prometheus 0644 root:root

ensure_enabled prometheus
if file_changed /etc/default/prometheus; then
  systemctl restart prometheus
  changed "restarted prometheus"
elif file_changed /etc/prometheus/prometheus.yml "$TLS/ca.crt" "$TLS/client.crt" "$TLS/client.key" \
     || changed_under /etc/prometheus/rules; then
  systemctl reload prometheus
  changed "reloaded prometheus"
fi

# Blackbox exporter: certificate expiry of the TLS endpoints (loopback only; Prometheus asks it).
bundled blackbox.yml >"$STEP_DIR/blackbox.yml"
prometheus-blackbox-exporter --config.check --config.file="$STEP_DIR/blackbox.yml" >"$STEP_DIR/bb.log" 2>&1 \
  || { cat "$STEP_DIR/bb.log" >&2; die "the blackbox exporter rejected blackbox.yml"; }
put_content "$STEP_DIR/blackbox.yml" /etc/prometheus/blackbox.yml 0644 root:root
put blackbox.default /etc/default/prometheus-blackbox-exporter 0644 root:root
ensure_enabled prometheus-blackbox-exporter
restart_if_changed prometheus-blackbox-exporter /etc/prometheus/blackbox.yml /etc/default/prometheus-blackbox-exporter

# STARTTLS certificate probe (PostgreSQL, PgBouncer) -> node_exporter's textfile collector.
put tls-probe /usr/local/lib/platform-monitoring/tls-probe 0755 root:root
put tls-probe.targets /etc/prometheus/tls-probe.targets 0644 root:root
install_timer platform-tls-probe
if file_changed /usr/local/lib/platform-monitoring/tls-probe /etc/prometheus/tls-probe.targets; then
  systemctl start platform-tls-probe.service || log "WARNING: the STARTTLS probe failed (see its journal)"
fi

ready() { curl -sf --max-time 2 "http://$MON_IP:$PROMETHEUS_PORT/-/ready" >/dev/null; }
wait_until 90 1 "Prometheus to be ready" ready || { journalctl -u prometheus -n 30 --no-pager >&2 || true; die "Prometheus is not ready"; }
