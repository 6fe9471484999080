#!/usr/bin/env bash
# MonitoringHost: Alertmanager (one instance, gossip off), its configuration checked by amtool
# before it is installed. Params: MON_IP, ALERTMANAGER_PORT. Files: alertmanager.yml (receivers'
# secrets as placeholders), alertmanager.default. Secrets: the configured receivers' (optional).
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

ensure_packages prometheus-alertmanager curl

staged="$STEP_DIR/alertmanager.yml"
bundled alertmanager.yml >"$staged"
amtool check-config "$staged" >"$STEP_DIR/check.log" 2>&1 \
  || { sed -n '/^Checking/,$p' "$STEP_DIR/check.log" | grep -v -i 'url\|password' >&2; die "amtool rejected alertmanager.yml"; }
# Receivers' URLs and the SMTP password are in this file: readable by Alertmanager only.
put_content "$staged" /etc/prometheus/alertmanager.yml 0640 root:prometheus
put alertmanager.default /etc/default/prometheus-alertmanager 0644 root:root

ensure_enabled prometheus-alertmanager
if file_changed /etc/default/prometheus-alertmanager; then
  systemctl restart prometheus-alertmanager
  changed "restarted prometheus-alertmanager"
elif file_changed /etc/prometheus/alertmanager.yml; then
  systemctl reload prometheus-alertmanager
  changed "reloaded prometheus-alertmanager"
fi

ready() { curl -sf --max-time 2 "http://$MON_IP:$ALERTMANAGER_PORT/-/ready" >/dev/null; }
wait_until 60 1 "Alertmanager to be ready" ready \
  || { journalctl -u prometheus-alertmanager -n 30 --no-pager >&2 || true; die "Alertmanager is not ready"; }
